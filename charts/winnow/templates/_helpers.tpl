{{/* Chart name, truncated to 63 characters. */}}
{{- define "winnow.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-name, unless the release is already called winnow. */}}
{{- define "winnow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Standard labels (Kubernetes recommended labels). */}}
{{- define "winnow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: winnow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component. */}}
{{- define "winnow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "winnow.name" .root }}-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The image by digest when one is given (immutable), else by tag (the chart's appVersion by default). */}}
{{- define "winnow.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/*
One service's workload: a Deployment, or a StatefulSet when "statefulSet" is given (a dict with
serviceName and volumeClaimTemplates). Params: root, component, args (after `winnow`), port,
portName, opsPort, env (a list of EnvVar), replicas, resources, volumes and mounts (optional),
serviceAccountName and automountToken (optional). Every pod gets the chart-wide knobs: image (digest
or tag), pull secrets, scheduling (nodeSelector, tolerations, affinity, topology spread, priority
class), extra labels, annotations and environment, the log level and the grace period.
*/}}
{{- define "winnow.workload" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $mounts := .mounts | default list -}}
{{- $volumes := .volumes | default list -}}
{{- if ne $v.grpcTls.mode "off" -}}
{{- $mounts = append $mounts (dict "name" "grpc-tls" "mountPath" "/etc/winnow/tls" "readOnly" true) -}}
{{- $volumes = append $volumes (dict "name" "grpc-tls" "secret" (dict "secretName" (include "winnow.grpcTlsSecret" $root))) -}}
{{- end -}}
apiVersion: apps/v1
kind: {{ if .statefulSet }}StatefulSet{{ else }}Deployment{{ end }}
metadata:
  name: {{ include "winnow.fullname" $root }}-{{ .component }}
  labels:
    {{- include "winnow.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ .replicas }}
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .statefulSet }}
  serviceName: {{ .serviceName }}
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: Retain
  {{- end }}
  selector:
    matchLabels:
      {{- include "winnow.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "winnow.labels" $root | nindent 8 }}
        {{- include "winnow.selectorLabels" (dict "root" $root "component" .component) | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or $v.metrics.podAnnotations $v.podAnnotations }}
      annotations:
        {{- if $v.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .opsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccountName | default (include "winnow.fullname" $root) }}
      automountServiceAccountToken: {{ .automountToken | default false }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        - {{ toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" (include "winnow.selectorLabels" (dict "root" $root "component" $.component) | fromYaml)))) | nindent 10 | trim }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "winnow.image" $root }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args: [serve, {{ .component }}]
          ports:
            - name: {{ .portName }}
              containerPort: {{ .port }}
            {{- if ne .portName "ops" }}
            - name: ops
              containerPort: {{ .opsPort }}
            {{- end }}
          env:
            - name: WINNOW_BIND_HOST
              value: "0.0.0.0"
            - name: WINNOW_LOG_LEVEL
              value: {{ $v.logLevel | quote }}
            - name: WINNOW_DRAIN_MS
              # Drain within the grace period, leaving a few seconds to exit.
              value: {{ mul (max 1 (sub $v.terminationGracePeriodSeconds 5)) 1000 | quote }}
            - name: WINNOW_SERVICE_KEY
              valueFrom:
                secretKeyRef: { name: {{ $v.secrets.serviceKey }}, key: key }
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- if ne $v.grpcTls.mode "off" }}
            - name: WINNOW_GRPC_TLS
              value: {{ $v.grpcTls.mode | quote }}
            - name: WINNOW_GRPC_TLS_REFRESH_SECONDS
              value: {{ $v.grpcTls.refreshSeconds | quote }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          readinessProbe:
            httpGet: { path: /readyz, port: ops }
            periodSeconds: 5
          livenessProbe:
            httpGet: { path: /healthz, port: ops }
            periodSeconds: 10
          resources:
            {{- toYaml .resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          {{- with $mounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with $volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- with .statefulSet }}
  volumeClaimTemplates:
    {{- toYaml .volumeClaimTemplates | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for one component: one pod at a time, so one replica never blocks a drain. */}}
{{- define "winnow.pdb" -}}
{{- if .root.Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "winnow.fullname" .root }}-{{ .component }}
  labels:
    {{- include "winnow.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "winnow.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end }}
{{- end -}}

{{/* One service's Service. Params: root, component, port, portName, servicePort, opsPort. */}}
{{- define "winnow.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "winnow.fullname" .root }}-{{ .component }}
  labels:
    {{- include "winnow.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  selector:
    {{- include "winnow.selectorLabels" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    - { name: {{ .portName }}, port: {{ .servicePort }}, targetPort: {{ .portName }} }
    - { name: ops, port: {{ .opsPort }}, targetPort: ops }
{{- end -}}

{{/* The Secret holding the gRPC certificate, key and CA (grpcTls). */}}
{{- define "winnow.grpcTlsSecret" -}}
{{- .Values.grpcTls.secretName | default (printf "%s-grpc-tls" (include "winnow.fullname" .)) -}}
{{- end -}}

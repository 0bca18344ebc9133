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

{{- define "winnow.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
One service's Deployment. Params: root, component, command, port (name and number), opsPort, env
(a list of EnvVar), replicas, resources, volumes and mounts (optional).
*/}}
{{- define "winnow.deployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "winnow.fullname" $root }}-{{ .component }}
  labels:
    {{- include "winnow.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ .replicas }}
  selector:
    matchLabels:
      {{- include "winnow.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "winnow.labels" $root | nindent 8 }}
        {{- include "winnow.selectorLabels" (dict "root" $root "component" .component) | nindent 8 }}
      {{- if $root.Values.metrics.podAnnotations }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .opsPort | quote }}
        prometheus.io/path: /metrics
      {{- end }}
    spec:
      serviceAccountName: {{ include "winnow.fullname" $root }}
      automountServiceAccountToken: false
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "winnow.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [node, {{ .command }}]
          ports:
            - name: {{ .portName }}
              containerPort: {{ .port }}
            - name: ops
              containerPort: {{ .opsPort }}
          env:
            - name: WINNOW_BIND_HOST
              value: "0.0.0.0"
            - name: WINNOW_SERVICE_KEY
              valueFrom:
                secretKeyRef: { name: {{ $root.Values.secrets.serviceKey }}, key: key }
            {{- with .env }}
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
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          {{- with .mounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
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

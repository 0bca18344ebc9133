/** `helm template` arguments that turn every optional object of the chart on. */
export const ALL_ON = ['--set', 'metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true,networkPolicy.enabled=true,tests.enabled=true,grpcTls.mode=mtls,grpcTls.certManager.enabled=true,grpcTls.certManager.issuerRef.name=winnow-ca'];

{{- define "credit-registry.name" -}}{{ .Chart.Name }}{{- end -}}
{{- define "credit-registry.fullname" -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "credit-registry.labels" -}}
app.kubernetes.io/name: {{ include "credit-registry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "credit-registry.selector" -}}
app.kubernetes.io/name: {{ include "credit-registry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/* Only on pods that serve /metrics: the metrics Service selects on it, so the audit and
topics Jobs, which have no metrics port, are never listed as scrape targets. */}}
{{- define "credit-registry.metricsLabel" -}}
credit-registry/metrics: "true"
{{- end -}}
{{- define "credit-registry.image" -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{/* Environment shared by every role: configuration from the ConfigMap, secrets by reference. */}}
{{- define "credit-registry.env" -}}
- name: CREDIT_REGISTRY_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.databaseUrl.name }}, key: {{ .Values.secrets.databaseUrl.key }}}}
- name: CREDIT_REGISTRY_PROJECTION_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.projectionUrl.name }}, key: {{ .Values.secrets.projectionUrl.key }}}}
{{- end -}}
{{- define "credit-registry.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end -}}
{{- define "credit-registry.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: ["ALL"]}
{{- end -}}
{{/* The three probes of every long-running pod (docs/probes.md), on its metrics port, which
answers /livez and /readyz from the process's first second. The startup probe gives the
process startup.budgetSeconds to catch up (a replay of the whole chain, at worst); liveness
and readiness wait for it. Then readiness follows /readyz (caught up) and liveness only
/livez (answering, loop making progress): a slow start is never killed, a hung process is. */}}
{{- define "credit-registry.probes" -}}
{{- $startup := .Values.startup -}}
{{- $probes := .Values.probes -}}
startupProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: {{ $startup.periodSeconds }}
  timeoutSeconds: {{ $probes.timeoutSeconds }}
  # The budget in whole periods, rounded up.
  failureThreshold: {{ div (sub (add $startup.budgetSeconds $startup.periodSeconds) 1) $startup.periodSeconds }}
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: {{ $probes.readiness.periodSeconds }}
  timeoutSeconds: {{ $probes.timeoutSeconds }}
  failureThreshold: {{ $probes.readiness.failureThreshold }}
livenessProbe:
  httpGet: {path: /livez, port: metrics}
  periodSeconds: {{ $probes.liveness.periodSeconds }}
  timeoutSeconds: {{ $probes.timeoutSeconds }}
  failureThreshold: {{ $probes.liveness.failureThreshold }}
{{- end -}}
{{/* A rollout waits for each new pod to catch up: allow it the startup budget, and a few
minutes to be scheduled and pull its image, before calling the rollout stalled. */}}
{{- define "credit-registry.progressDeadlineSeconds" -}}
{{ add .Values.startup.budgetSeconds 300 }}
{{- end -}}

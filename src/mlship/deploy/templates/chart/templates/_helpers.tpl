{{/* Labels of every object; the selector labels pick the pods. */}}
{{- define "mlship.selectorLabels" -}}
app.kubernetes.io/name: mlship
app.kubernetes.io/instance: {{ .Values.fullname }}
{{- end }}

{{- define "mlship.labels" -}}
{{ include "mlship.selectorLabels" . }}
app.kubernetes.io/component: server
app.kubernetes.io/managed-by: mlship
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

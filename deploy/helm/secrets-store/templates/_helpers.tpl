{{- define "ss.name" -}}secrets-store{{- end -}}
{{- define "ss.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "ss.labels" -}}
app.kubernetes.io/name: secrets-store
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "ss.webhookName" -}}{{ .Release.Name }}-webhook{{- end -}}
{{- define "ss.csiName" -}}{{ .Release.Name }}-csi{{- end -}}
{{/* The connection part of the settings, shared by the webhook and the CSI driver; empty
     values are left out, so the program applies its own defaults. */}}
{{- define "ss.connectionDict" -}}
{{- $c := dict -}}
{{- range $k := list "url" "authPath" "caCert" "namespace" "allowInsecureHttp" -}}
{{- with index $.Values.connection $k }}{{ $_ := set $c $k . }}{{ end -}}
{{- end -}}
{{- dict "connectionConfiguration" .Values.connectionConfiguration "connection" $c | toJson -}}
{{- end -}}


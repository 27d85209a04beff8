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

{{/* The log flags of the serving roles. */}}
{{- define "ss.logArgs" -}}
--log-level={{ .Values.log.level }}{{ if eq .Values.log.format "json" }}, --json-log{{ end }}
{{- end -}}
{{/* The Secret holding the webhook's serving certificate. */}}
{{- define "ss.webhookTlsSecret" -}}
{{- .Values.webhook.tls.existingSecret | default (printf "%s-tls" (include "ss.webhookName" .)) -}}
{{- end -}}
{{/* The scheduling part of a Pod spec: $v is webhook or csi values. */}}
{{- define "ss.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
{{/* True when the Role in d8-stronghold is to be made (strongholdCaRole). */}}
{{- define "ss.strongholdCaRole" -}}
{{- if and (eq .Values.connectionConfiguration "DiscoverLocalStronghold") (or .Values.webhook.enabled .Values.csi.enabled) -}}
{{- if eq .Values.strongholdCaRole "always" -}}true
{{- else if and (eq .Values.strongholdCaRole "auto") (lookup "v1" "Namespace" "" "d8-stronghold") -}}true
{{- end -}}
{{- end -}}
{{- end -}}
{{/* True when the webhook's PodDisruptionBudget is rendered (webhook.pdb.enabled). */}}
{{- define "ss.webhookPdb" -}}
{{- $e := .Values.webhook.pdb.enabled -}}
{{- if and .Values.webhook.enabled (or (eq (toString $e) "true") (and (eq (toString $e) "auto") (gt (int .Values.webhook.replicas) 1))) -}}true{{- end -}}
{{- end -}}

{{/* Names and labels shared by every template. */}}
{{- define "p2pdist.supernode" -}}{{ .Release.Name }}-supernode{{- end }}
{{- define "p2pdist.peer" -}}{{ .Release.Name }}-peer{{- end }}

{{- define "p2pdist.labels" -}}
app.kubernetes.io/part-of: p2pdist
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "p2pdist.image" -}}
{{- $image := index .root.Values.image .component -}}
{{ $image.repository }}:{{ $image.tag | default .root.Chart.AppVersion }}
{{- end }}

{{/* The supernode's address as peers dial it: the Service's DNS name. */}}
{{- define "p2pdist.supernodeAddress" -}}
{{ include "p2pdist.supernode" . }}.{{ .Release.Namespace }}.svc:{{ .Values.supernode.port | int }}
{{- end }}

{{/* Names and labels. */}}
{{- define "phiwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "phiwatch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "phiwatch.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "phiwatch.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "phiwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "phiwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: phiwatch
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "component" "load") */}}
{{- define "phiwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "phiwatch.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "phiwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "phiwatch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "phiwatch.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "phiwatch.storeSecret" -}}
{{- .Values.clickhouse.existingSecret | default (printf "%s-store" (include "phiwatch.fullname" .)) -}}
{{- end -}}

{{- define "phiwatch.authSecret" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "phiwatch.fullname" .)) -}}
{{- end -}}

{{/* The store DSN built from .Values.clickhouse. */}}
{{- define "phiwatch.storeDSN" -}}
{{- $c := .Values.clickhouse -}}
{{- printf "clickhouse://%s:%s@%s:%v/%s" (urlquery $c.user) (urlquery $c.password) $c.host $c.port $c.database -}}
{{- if $c.secure }}?secure=true{{ end -}}
{{- end -}}

{{/* Environment every role that opens the store gets. */}}
{{- define "phiwatch.storeEnv" -}}
- name: PHIWATCH_STORE
  valueFrom:
    secretKeyRef:
      name: {{ include "phiwatch.storeSecret" . }}
      key: PHIWATCH_STORE
{{- end -}}

{{/* Pod-level settings shared by every workload. */}}
{{- define "phiwatch.podCommon" -}}
serviceAccountName: {{ include "phiwatch.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Common flags of every role's config file. */}}
{{- define "phiwatch.commonConfig" -}}
log-level: {{ .Values.config.logLevel | quote }}
log-format: {{ .Values.config.logFormat | quote }}
{{- end -}}

{{- define "phiwatch.kafkaConfig" -}}
kafka-brokers: {{ .Values.kafka.brokers | quote }}
kafka-partitions: {{ .Values.kafka.partitions | quote }}
events-topic: {{ .Values.kafka.eventsTopic | quote }}
dead-letter-topic: {{ .Values.kafka.deadLetterTopic | quote }}
{{- end -}}

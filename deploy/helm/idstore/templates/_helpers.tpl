{{/* The chart's name, or nameOverride. */}}
{{- define "idstore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: <release>-idstore, or the release's own name when it holds the chart's. */}}
{{- define "idstore.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "idstore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "idstore.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The serving pods: the Service, the PDB and the Deployment select these (the migration Job's pods are another component). */}}
{{- define "idstore.serverSelectorLabels" -}}
{{ include "idstore.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "idstore.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "idstore.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "idstore.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding one of secrets.*: the chart's own when it creates one, else secretName or the full name. */}}
{{- define "idstore.secretName" -}}
{{- if .root.Values.secrets.create }}
{{- include "idstore.fullname" .root }}
{{- else }}
{{- default (include "idstore.fullname" .root) .secret.secretName }}
{{- end }}
{{- end }}

{{/*
The IDSTORE_* variables of the ConfigMap (and, inline, of the migration Job,
which runs before the ConfigMap exists), as a dict.
*/}}
{{- define "idstore.configData" -}}
{{- $data := dict }}
{{- range $key, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
{{- $_ := set $data (printf "IDSTORE_%s" (upper $key)) (toString $value) }}
{{- end }}
{{- end }}
{{- if not .Values.config.public_url }}
{{- $_ := set $data "IDSTORE_PUBLIC_URL" (printf "http://%s.%s.svc:%v" (include "idstore.fullname" .) .Release.Namespace .Values.service.port) }}
{{- end }}
{{- $_ := set $data "IDSTORE_LISTEN" (printf "0.0.0.0:%v" .Values.containerPort) }}
{{- $_ := set $data "IDSTORE_MIGRATE" (ternary "false" "true" .Values.migration.enabled) }}
{{- $_ := set $data "IDSTORE_BOOTSTRAP" (toString .Values.bootstrap.enabled) }}
{{- $_ := set $data "IDSTORE_DATA_DIR" "/var/lib/idstore" }}
{{- toYaml $data }}
{{- end }}

{{/* Environment from Secrets: the serving role's URL, the owner's URL where
migrating ("owner": the Job, or pods that migrate), the key-encryption key,
the bootstrap client. Called with (dict "root" $ "owner" bool). */}}
{{- define "idstore.secretEnv" -}}
{{- $owner := .owner -}}
{{- with .root -}}
- name: IDSTORE_RUNTIME_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "idstore.secretName" (dict "root" . "secret" .Values.secrets.runtimeDatabaseUrl) }}
      key: {{ .Values.secrets.runtimeDatabaseUrl.key }}
{{- if $owner }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "idstore.secretName" (dict "root" . "secret" .Values.secrets.databaseUrl) }}
      key: {{ .Values.secrets.databaseUrl.key }}
{{- end }}
- name: IDSTORE_KEY_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "idstore.secretName" (dict "root" . "secret" .Values.secrets.keyEncryptionKey) }}
      key: {{ .Values.secrets.keyEncryptionKey.key }}
{{- if .Values.bootstrap.enabled }}
- name: IDSTORE_BOOTSTRAP_CLIENT_ID
  value: {{ .Values.bootstrap.clientId | quote }}
- name: IDSTORE_BOOTSTRAP_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "idstore.secretName" (dict "root" . "secret" .Values.secrets.bootstrapClientSecret) }}
      key: {{ .Values.secrets.bootstrapClientSecret.key }}
{{- end }}
{{- if .Values.secrets.smtpPassword.enabled }}
- name: IDSTORE_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "idstore.secretName" (dict "root" . "secret" .Values.secrets.smtpPassword) }}
      key: {{ .Values.secrets.smtpPassword.key }}
{{- end }}
{{- end }}
{{- end }}

{{/* Writable places on a read-only root: idstore's data directory and /tmp. */}}
{{- define "idstore.volumeMounts" -}}
- name: data
  mountPath: /var/lib/idstore
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "idstore.volumes" -}}
- name: data
  emptyDir:
    sizeLimit: 16Mi
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end }}

{{/* Fails the render when values contradict each other. */}}
{{- define "idstore.check" -}}
{{- $shutdown := int (ternary .Values.config.shutdown_timeout 30 (hasKey .Values.config "shutdown_timeout")) }}
{{- $drain := int (ternary .Values.config.drain_delay 5 (hasKey .Values.config "drain_delay")) }}
{{- $needed := add $shutdown $drain (int .Values.preStopSleepSeconds) }}
{{- if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + config.drain_delay + config.shutdown_timeout (%v): in-flight requests would be killed" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- if and .Values.bootstrap.enabled (not .Values.bootstrap.clientId) }}
{{- fail "bootstrap.clientId is required when bootstrap.enabled: a generated admin secret would be printed to the pod's log" }}
{{- end }}
{{- end }}

{{/* One container of the migration Job: the image, its configuration inline (the Job runs before the ConfigMap exists) and the secrets. */}}
{{- define "idstore.jobContainer" -}}
{{- $root := .root -}}
- name: {{ .name }}
  image: {{ include "idstore.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args: {{ toJson .args }}
  env:
    {{- range $name, $value := include "idstore.configData" $root | fromYaml }}
    - name: {{ $name }}
      value: {{ $value | quote }}
    {{- end }}
    {{- include "idstore.secretEnv" (dict "root" $root "owner" true) | nindent 4 }}
    {{- with $root.Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $root.Values.migration.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.securityContext | nindent 4 }}
  volumeMounts:
    {{- include "idstore.volumeMounts" $root | nindent 4 }}
{{- end }}

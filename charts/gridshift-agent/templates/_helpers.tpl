{{/* Names and labels, following the KEDA chart's conventions. */}}
{{- define "gridshift-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridshift-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gridshift-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gridshift-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gridshift-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gridshift-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: gridshift
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gridshift-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gridshift-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gridshift-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "gridshift-agent.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{/*
The PolicyRules of the enabled features, read from rbac/*.yaml (copies of
docs/rbac/*.yaml, kept equal by e2e/charts/check.sh). Emits YAML
{cluster: [...], configmaps: [...], leases: [...]}: rules whose only resource
is configmaps (leases) go to a Role in the ConfigMap (leader-election)
namespace, every other rule to the ClusterRole.
*/}}
{{- define "gridshift-agent.rules" -}}
{{- $rules := list -}}
{{- $f := .Values.features -}}
{{- if or (has "configmap" $f) (has "keda" $f) -}}
{{- $rules = concat $rules (.Files.Get "rbac/agent-configmap-keda.yaml" | fromYamlArray) -}}
{{- end -}}
{{- if has "scheduler" $f -}}
{{- $rules = concat $rules (.Files.Get "rbac/agent-scheduler.yaml" | fromYamlArray) -}}
{{- end -}}
{{- $out := dict "cluster" (list) "configmaps" (list) "leases" (list) -}}
{{- /* Both files grant events: render each distinct rule once. */ -}}
{{- range uniq $rules -}}
{{- $kind := "cluster" -}}
{{- if eq (len .resources) 1 -}}
{{- if eq (first .resources) "configmaps" }}{{ $kind = "configmaps" }}{{ end -}}
{{- if eq (first .resources) "leases" }}{{ $kind = "leases" }}{{ end -}}
{{- end -}}
{{- $_ := set $out $kind (append (get $out $kind) .) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

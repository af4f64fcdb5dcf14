variable "region" {
  description = "AWS region (e.g. ap-northeast-1, Tokyo)."
  type        = string
  default     = "ap-northeast-1"
}

variable "name" {
  description = "Name prefix of the resources."
  type        = string
  default     = "carehub"
}

variable "vpc_id" {
  description = "VPC of the Kubernetes cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two or more availability zones) for the database."
  type        = list(string)
}

variable "client_cidr_blocks" {
  description = "CIDR blocks allowed to reach PostgreSQL: the cluster's node or pod network."
  type        = list(string)
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "allocated_storage_gb" {
  description = "Initial storage; it grows up to max_allocated_storage_gb."
  type        = number
  default     = 100
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 1000
}

variable "multi_az" {
  description = "Standby in another availability zone."
  type        = bool
  default     = true
}

variable "engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "write_kubernetes_secret" {
  description = "Write the carehub-database Secret into the cluster (otherwise read the outputs and create it by hand)."
  type        = bool
  default     = true
}

variable "kubeconfig_path" {
  description = "kubeconfig for the Kubernetes provider."
  type        = string
  default     = "~/.kube/config"
}

variable "kubeconfig_context" {
  description = "kubeconfig context of the cluster (null: the current one)."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Namespace of carehub on the cluster (infra/k8s/namespace.yaml)."
  type        = string
  default     = "carehub"
}

output "database_host" {
  description = "host:port of the database: the database_host variable (spin.toml allowed_outbound_hosts)."
  value       = local.database_host
}

output "database_url" {
  description = "The components' connection string under Spin (sslmode=require; Spin's client verifies the server against the pods' trust bundle). `terraform output -raw database_url`."
  value       = local.database_url
  sensitive   = true
}

output "gateway_database_url" {
  description = "The gateway's connection string: sslmode=verify-full against database_ca."
  value       = local.gateway_database_url
  sensitive   = true
}

output "database_ca" {
  description = "The RDS CA bundle (PEM) of the region: database_ca, and part of the SpinApps' trust bundle."
  value       = local.database_ca
}

output "database_host" {
  description = "host:port of the database: the database_host variable (spin.toml allowed_outbound_hosts)."
  value       = local.database_host
}

output "database_url" {
  description = "Connection string: the database_url variable. `terraform output -raw database_url`."
  value       = local.database_url
  sensitive   = true
}

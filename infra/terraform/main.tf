locals {
  database = "carehub"
  username = "carehub"
}

# Alphanumeric: RDS refuses some punctuation, and the URL needs no escaping.
resource "random_password" "master" {
  length  = 40
  special = false
}

resource "aws_db_subnet_group" "carehub" {
  name       = "${var.name}-db"
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL for carehub, from the cluster only"
  vpc_id      = var.vpc_id

  ingress {
    description = "PostgreSQL from the cluster"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = var.client_cidr_blocks
  }
}

# TLS is required for every connection; clients verify the server (sslmode=verify-full
# against the RDS CA bundle below, or Spin's verifying client with sslmode=require).
resource "aws_db_parameter_group" "carehub" {
  name   = "${var.name}-pg${var.engine_version}"
  family = "postgres${var.engine_version}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

resource "aws_db_instance" "carehub" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name  = local.database
  username = local.username
  password = random_password.master.result
  port     = 5432

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.carehub.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.carehub.name
  publicly_accessible    = false

  backup_retention_period   = 14
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade = true
  apply_immediately          = false
}

# The CA bundle of RDS in this region: the certificate of every RDS instance
# here chains to it. The gateway verifies the server against it
# (sslmode=verify-full, database_ca); the SpinApps' trust bundle must hold
# it too (Secret carehub-spin-ca, infra/DEPLOY.md step 3).
data "http" "rds_ca" {
  url = "https://truststore.pki.rds.amazonaws.com/${var.region}/${var.region}-bundle.pem"

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && strcontains(self.response_body, "BEGIN CERTIFICATE")
      error_message = "could not fetch the RDS CA bundle for ${var.region}"
    }
  }
}

locals {
  database_host = "${aws_db_instance.carehub.address}:${aws_db_instance.carehub.port}"
  database_base = "postgres://${local.username}:${random_password.master.result}@${local.database_host}/${local.database}"
  # The gateway (sqlx): verified TLS, the CA bundle from database_ca.
  gateway_database_url = "${local.database_base}?sslmode=verify-full"
  # The components under Spin (tokio-postgres knows only disable/prefer/require):
  # Spin's native-tls connector verifies the chain and the host name against
  # the pods' trust bundle (the executor's caCertSecret).
  database_url = "${local.database_base}?sslmode=require"
  database_ca  = data.http.rds_ca.response_body
}

# The Secret infra/k8s refers to (keys database_url, gateway_database_url,
# database_host, database_ca).
resource "kubernetes_secret_v1" "database" {
  count = var.write_kubernetes_secret ? 1 : 0

  metadata {
    name      = "carehub-database"
    namespace = var.namespace
  }

  data = {
    database_url         = local.database_url
    gateway_database_url = local.gateway_database_url
    database_host        = local.database_host
    database_ca          = local.database_ca
  }

  type = "Opaque"
}

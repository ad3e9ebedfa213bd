#!/bin/sh
# Runs once, when the database volume is first initialised (postgres image entrypoint).
# The two roles of README "Database roles": the owner migrates, the application serves.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_pw="$TESSERA_OWNER_PASSWORD" -v app_pw="$TESSERA_APP_PASSWORD" <<'SQL'
CREATE ROLE tessera_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE tessera_app LOGIN PASSWORD :'app_pw' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE tessera OWNER tessera_owner;
SQL

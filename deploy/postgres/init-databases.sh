#!/bin/sh
# Creates one database per service, each owned by a login role of the same name whose
# password comes from OKR_<SERVICE>_DB_PASSWORD. Other roles cannot connect to it.
#
# The postgres image runs this once, on the first start with an empty data volume. It
# also runs by hand against any server: PGHOST=... PGUSER=... sh init-databases.sh
# (OKR_DATABASES names the services; by default the platform's three).
set -eu

for service in ${OKR_DATABASES:-goals metrics notifications}; do
  variable="OKR_$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password=$(printenv "$variable" || true)
  if [ -z "$password" ]; then
    echo "init-databases: $variable is not set" >&2
    exit 1
  fi
  # psql variables quote the name and the password, so no value can inject SQL.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --dbname postgres \
       --set role="$service" --set password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
  echo "init-databases: database and role $service created" >&2
done

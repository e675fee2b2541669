--! Previous: sha1:ddced57e9b8486a1546e5aa73cc73ec5d0f5cfe1
--! Hash: sha1:8c22c785a016f2f59985604a7cf14bc637cee557

-- The database metrics (src/metrics/database.ts) sized every database with pg_database_size in
-- one statement: a database dropped between the catalog read and its size ("database with OID …
-- does not exist") failed the whole collection, every metric of that round. Found when the test
-- suite, which drops its databases as it goes, met the collector.

create or replace function app_private.database_sizes()
returns table (database text, bytes bigint) as $$
declare
  d record;
begin
  for d in select datname, oid from pg_database where datallowconn loop
    begin
      database := d.datname;
      bytes := pg_database_size(d.oid);
      return next;
    -- "database with OID … does not exist": 42704 from the privilege check (PostgreSQL 18)
    exception when undefined_object or invalid_catalog_name then
      null; -- dropped meanwhile: not there to report
    end;
  end loop;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.database_sizes() is
  E'The size of every database that accepts connections, skipping one dropped while this runs (the database metrics, mking_db_size_bytes).';
revoke all on function app_private.database_sizes() from public;

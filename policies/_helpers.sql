-- Helpers used by every policies/<table>.sql file. Sorted first (`_`), applied in the same
-- transaction, after migrations. Everything here is `create or replace`: safe to re-run.

create or replace function app_private.drop_policies(tbl regclass) returns void as $$
declare
  v_name name;
begin
  for v_name in select polname from pg_catalog.pg_policy where polrelid = tbl loop
    execute format('drop policy %I on %s', v_name, tbl);
  end loop;
end;
$$ language plpgsql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.drop_policies(regclass) is
  E'Drops every policy on a table, so that its policies file alone states what is allowed.';

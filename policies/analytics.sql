-- Who may read the analytics views (issue #13, "analytics without personal data"): the reporting
-- role mking_analyst (src/db/roles.ts), and it may read nothing else. The views run with their
-- owner's rights (they are not security_invoker), so the analyst needs no grant on the tables
-- behind them; the functions they call are checked against the caller, so it may execute those
-- (app_private.pseudonym is security definer: it reads the key the analyst cannot). Without usage
-- on app_private the analyst cannot call them directly, only through the views.

-- nothing of the API, the secrets, the helpers or the job queue
revoke all on schema app_public, app_hidden, app_private, graphile_worker from mking_analyst;
revoke all on all tables in schema app_public, app_hidden, app_private, graphile_worker from mking_analyst;
revoke all on all sequences in schema app_public, app_hidden, app_private, graphile_worker from mking_analyst;
revoke all on all functions in schema app_public, app_hidden, app_private, graphile_worker from mking_analyst;
do $graphile_migrate$
begin
  if to_regnamespace('graphile_migrate') is not null then
    revoke all on schema graphile_migrate from mking_analyst;
    revoke all on all tables in schema graphile_migrate from mking_analyst;
  end if;
end
$graphile_migrate$;

-- the views, read-only, and only for the analyst (the API roles never see them)
revoke all on schema analytics from public, anonymous, authenticated;
grant usage on schema analytics to mking_analyst;
revoke all on all tables in schema analytics from public, anonymous, authenticated, mking_analyst;
grant select on all tables in schema analytics to mking_analyst;

-- what the views call, executed as the analyst (pseudonym as the owner: security definer)
grant execute on function app_private.pseudonym(uuid) to mking_analyst;
grant execute on function app_private.age_band(date) to mking_analyst;
grant execute on function app_private.coarse_location(text) to mking_analyst;
grant execute on function app_private.utc_day(timestamptz) to mking_analyst;
grant execute on function app_private.utc_month(timestamptz) to mking_analyst;

do $connect$
begin
  execute format('grant connect on database %I to mking_analyst', current_database());
end
$connect$;

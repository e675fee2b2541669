--! Previous: sha1:1d8766273c5833d6b3aef4d6fe891e3622783ff2
--! Hash: sha1:ddced57e9b8486a1546e5aa73cc73ec5d0f5cfe1

-- Sign-ups per client address. `register` had no limit: one address created accounts as fast as
-- it could send requests (40 in three seconds when probed), each one a verification e-mail.
-- Counted in app_private.login_attempts (key 'signup:<address>'; purged after a day with the
-- sign-in failures), so the limit holds across restarts and API instances.

create or replace function app_hidden.signup_allowed(ip inet, max_per_hour int, user_agent text)
returns boolean as $$
declare
  v_key text := 'signup:' || host(ip);
begin
  if ip is null then
    return true;
  end if;
  -- sign-ups from one address one at a time (until the registering transaction ends): parallel
  -- ones cannot all count the same total and all pass
  perform pg_advisory_xact_lock(hashtextextended(v_key, 29));
  if (select count(*) from app_private.login_attempts
       where key = v_key and attempted_at > now() - interval '1 hour') >= max_per_hour then
    perform app_private.audit(null, 'signup_rate_limited', ip, user_agent);
    return false;
  end if;
  insert into app_private.login_attempts (key) values (v_key);
  return true;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.signup_allowed(inet, int, text) is
  E'Counts a sign-up attempt from this client address; false (and audited) once it made max_per_hour in the last hour (SIGNUPS_PER_CLIENT_PER_HOUR).';
revoke all on function app_hidden.signup_allowed(inet, int, text) from public;

-- the refusal is audited: the audit actions of 0012, and signup_rate_limited
alter table app_private.audit_log drop constraint if exists ck_audit_log_action;
alter table app_private.audit_log add constraint ck_audit_log_action check (action in (
  'register', 'login_success', 'login_failure', 'login_rate_limited', 'signup_rate_limited',
  'password_change', 'password_reset', 'email_verification',
  'logout', 'logout_everywhere', 'refresh_token_reuse', 'account_deletion',
  'totp_enabled', 'totp_disabled', 'recovery_codes_regenerated', 'recovery_code_used',
  'second_step_failed', 'second_step_passed', 'passkey_added', 'passkey_removed', 'passkey_sign_in',
  'identity_linked', 'identity_unlinked', 'oidc_sign_in', 'oidc_sign_in_failed'
));

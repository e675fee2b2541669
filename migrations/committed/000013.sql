--! Previous: sha1:246d8cd9cadbbe0d484dcef0702969874e5733ba
--! Hash: sha1:39ebfad99fd4eda9bfd4f27fa6bb22784d59f904

-- 0013 — restoring an account that awaits deletion needs every factor of a sign-in (#19, #13).

-- ==== sign-in: restore needs every factor ====
-- An account awaiting erasure comes back only through a complete sign-in: for an account with a
-- second factor (TOTP or passkey) that is the second step, never the password (or OpenID
-- Connect) step alone. The first step opens its session without restoring (outcome
-- `pending_deletion`); src/auth/signIn.ts completeSignIn turns it into a second-step challenge
-- marked `restored`, and finish_sign_in_challenge restores when that step succeeds.
-- cancelAccountDeletion with the password alone refuses such an account
-- (`second_factor_required`: sign in instead).

create or replace function app_hidden.login(
  email text, password text, bcrypt_cost int, refresh_ttl interval, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval
) returns app_hidden.session as $$
declare
  v_check record;
  v_outcome text;
  v_result app_hidden.session;
begin
  select * into v_check from app_private.check_sign_in(
    email, password, bcrypt_cost, ip, user_agent, max_failures_per_email, max_failures_per_client, failure_window);
  if v_check.outcome = 'pending_deletion' then
    if app_private.has_second_factor(v_check.user_id) then
      -- restored by the second step (finish_sign_in_challenge), not by the password
      v_outcome := 'pending_deletion';
    else
      perform app_private.restore_account(v_check.user_id, ip, user_agent);
      v_outcome := 'restored';
    end if;
  elsif v_check.outcome <> 'ok' then
    return row(v_check.outcome, null, null, null)::app_hidden.session;
  else
    v_outcome := 'ok';
  end if;
  update app_public.users
     set last_login_at = now(), login_count = coalesce(login_count, 0) + 1
   where id = v_check.user_id;
  select v_outcome, v_check.user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_check.user_id, ip, user_agent, refresh_ttl) s;
  perform app_private.audit(v_check.user_id, 'login_success', ip, user_agent);
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.login(text, text, int, interval, inet, text, int, int, interval) is
  E'Checks e-mail and password (app_private.check_sign_in), counts the login and opens a session; an account awaiting erasure is restored first (outcome `restored`) unless it has a second factor: then the outcome is `pending_deletion` and only the second step restores it. Never raises for a failed attempt: it returns why, so the attempt is recorded.';

create or replace function app_hidden.oidc_complete_sign_in(code text, refresh_ttl interval, ip inet, user_agent text)
returns app_hidden.session as $$
declare
  v_g app_private.oidc_grants;
  v_user app_public.users;
  v_outcome text := 'ok';
  v_result app_hidden.session;
begin
  update app_private.oidc_grants g set used_at = now()
   where g.code_hash = app_private.hash_token(coalesce(oidc_complete_sign_in.code, ''))
     and g.kind = 'sign_in' and g.used_at is null and g.expires_at > now()
  returning * into v_g;
  if v_g.id is null then
    return row('invalid', null, null, null)::app_hidden.session;
  end if;
  select * into v_user from app_public.users u where u.id = v_g.user_id;
  if v_user.status = 'deleted' and v_user.deletion_requested_at is not null then
    if app_private.has_second_factor(v_user.id) then
      -- restored by the second step (finish_sign_in_challenge), not by the provider alone
      v_outcome := 'pending_deletion';
    else
      perform app_private.restore_account(v_user.id, ip, user_agent);
      v_outcome := 'restored';
    end if;
  elsif v_user.status is distinct from 'active' then
    perform app_private.audit(v_g.user_id, 'oidc_sign_in_failed', ip, user_agent,
                              jsonb_build_object('provider', v_g.provider, 'reason', v_user.status));
    return row(coalesce(v_user.status, 'deleted'), null, null, null)::app_hidden.session;
  end if;
  update app_public.users set last_login_at = now(), login_count = coalesce(login_count, 0) + 1 where id = v_g.user_id;
  perform app_private.audit(v_g.user_id, 'oidc_sign_in', ip, user_agent, jsonb_build_object('provider', v_g.provider));
  select v_outcome, v_g.user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_g.user_id, ip, user_agent, refresh_ttl) s;
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.oidc_complete_sign_in(text, interval, inet, text) is
  E'Exchanges a one-time OpenID Connect sign-in code for a session (once); an account awaiting erasure is restored (`restored`) unless it has a second factor (`pending_deletion`: the second step restores it). Returns why not instead of raising.';

create or replace function app_hidden.finish_sign_in_challenge(
  challenge_id uuid, method text, verified boolean, totp_step bigint, recovery_code text,
  credential_id text, new_counter bigint, refresh_ttl interval, ip inet, user_agent text
) returns app_hidden.session as $$
declare
  v_c app_private.second_step_challenges;
  v_user_id uuid;
  v_user app_public.users;
  v_outcome text;
  v_restored boolean := false;
  v_result app_hidden.session;
begin
  select * into v_c from app_private.second_step_challenges c
   where c.id = finish_sign_in_challenge.challenge_id and c.purpose in ('sign_in', 'passkey_sign_in')
     and c.expires_at > now();
  if v_c.id is null then
    return row('invalid', null, null, null)::app_hidden.session;
  end if;
  v_user_id := v_c.user_id;
  if v_user_id is null then
    select w.user_id into v_user_id from app_private.webauthn_credentials w where w.credential_id = finish_sign_in_challenge.credential_id;
    if v_user_id is null then
      -- a passkey nobody has: nothing to count it against
      return row('bad_code', null, null, null)::app_hidden.session;
    end if;
  end if;
  v_outcome := app_private.spend_factor(v_user_id, method, v_c.purpose, verified, totp_step, recovery_code,
                                        credential_id, new_counter, ip, user_agent);
  if v_outcome <> 'ok' then
    return row(v_outcome, null, null, null)::app_hidden.session;
  end if;
  update app_private.second_step_challenges c set used_at = now() where c.id = v_c.id;
  select * into v_user from app_public.users u where u.id = v_user_id;
  -- a passkey sign-in is both factors; a second step restores only when its first step found the
  -- account awaiting erasure (a deletion asked for after the password step is not undone)
  if (v_c.purpose = 'passkey_sign_in' or v_c.restored)
     and v_user.status = 'deleted' and v_user.deletion_requested_at is not null then
    perform app_private.restore_account(v_user_id, ip, user_agent);
    v_restored := true;
  elsif v_user.status is distinct from 'active' then
    perform app_private.audit(v_user_id, 'login_failure', ip, user_agent, jsonb_build_object('status', v_user.status));
    return row(coalesce(v_user.status, 'deleted'), null, null, null)::app_hidden.session;
  end if;
  if v_c.purpose = 'passkey_sign_in' then
    update app_public.users set last_login_at = now(), login_count = coalesce(login_count, 0) + 1 where id = v_user_id;
    perform app_private.audit(v_user_id, 'passkey_sign_in', ip, user_agent);
  else
    perform app_private.audit(v_user_id, 'second_step_passed', ip, user_agent, jsonb_build_object('method', lower(method)));
  end if;
  select case when v_restored then 'restored' else 'ok' end, v_user_id, s.session_id, s.refresh_token into v_result
    from app_private.start_session(v_user_id, ip, user_agent, refresh_ttl) s;
  return v_result;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.finish_sign_in_challenge(uuid, text, boolean, bigint, text, text, bigint, interval, inet, text) is
  E'Finishes a second step or a passkey sign-in with a checked factor and opens the session; restores an account awaiting erasure when the sign-in started on it (outcome `restored`); records a failure instead.';

create or replace function app_hidden.cancel_account_deletion(
  email text, password text, bcrypt_cost int, ip inet, user_agent text,
  max_failures_per_email int, max_failures_per_client int, failure_window interval
) returns text as $$
declare
  v_check record;
begin
  select * into v_check from app_private.check_sign_in(
    email, password, bcrypt_cost, ip, user_agent, max_failures_per_email, max_failures_per_client, failure_window);
  if v_check.outcome = 'pending_deletion' then
    if app_private.has_second_factor(v_check.user_id) then
      -- the password alone is not enough: signing in (with the second step) restores it
      return 'second_factor_required';
    end if;
    perform app_private.restore_account(v_check.user_id, ip, user_agent);
    return 'ok';
  elsif v_check.outcome = 'ok' then
    return 'not_pending';
  end if;
  return v_check.outcome;
end;
$$ language plpgsql volatile security definer set search_path to pg_catalog, public, pg_temp;
comment on function app_hidden.cancel_account_deletion(text, text, int, inet, text, int, int, interval) is
  E'Restores an account awaiting erasure, given its e-mail and password (rate limited like a sign-in), without signing in. `not_pending` when nothing was pending; `second_factor_required` (nothing restored) for an account with a second factor, which must sign in instead.';

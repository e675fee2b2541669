-- Who may call the account functions the auth plugin (plugins/auth.ts) uses. They are
-- `security definer` and check everything themselves; signing in is open to anyone, the rest
-- needs a signed-in user: those functions refuse anonymous callers first thing, with
-- UNAUTHENTICATED (so anonymous may execute them, to be told to sign in).

grant execute on function app_hidden.register(text, text, text, text, int, interval, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.signup_allowed(inet, int, text) to anonymous, authenticated;
grant execute on function app_hidden.login(text, text, int, interval, inet, text, int, int, interval) to anonymous, authenticated;
grant execute on function app_hidden.refresh_session(text, interval, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.logout(text, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.request_password_reset(text) to anonymous, authenticated;
grant execute on function app_hidden.reset_password(text, text, int, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.verify_email(text, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.logout_everywhere(inet, text) to anonymous, authenticated;
grant execute on function app_hidden.change_password(text, text, int, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.request_email_verification() to anonymous, authenticated;
grant execute on function app_public.current_person() to anonymous, authenticated;

-- Which sessions are live: the API asks once per session it has not seen (src/auth/sessions.ts).
grant execute on function app_hidden.live_sessions(uuid[]) to authenticated;

-- Second factors and passkeys (plugins/twoFactor.ts, src/auth/signIn.ts; migrations/current.sql
-- "sign-in: second factors"). Sign-in steps are open to anyone (a challenge token or a brand-new
-- refresh token is the proof); the rest refuse anonymous callers with require_user().
grant execute on function app_hidden.hold_for_second_step(text, boolean, text, interval) to anonymous, authenticated;
grant execute on function app_hidden.open_challenge(text, text, int, int, interval) to anonymous, authenticated;
grant execute on function app_hidden.challenge_passkey(uuid, text) to anonymous, authenticated;
grant execute on function app_hidden.finish_sign_in_challenge(uuid, text, boolean, bigint, text, text, bigint, interval, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.start_passkey_sign_in(text, text, interval) to anonymous, authenticated;
grant execute on function app_hidden.my_second_factors(int, interval) to anonymous, authenticated;
grant execute on function app_hidden.use_fresh_factor(text, text, boolean, bigint, text, text, text, bigint, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.enrol_totp(text) to anonymous, authenticated;
grant execute on function app_hidden.confirm_totp(boolean, bigint, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.disable_totp(inet, text) to anonymous, authenticated;
grant execute on function app_hidden.regenerate_recovery_codes(inet, text) to anonymous, authenticated;
grant execute on function app_hidden.start_my_challenge(text, text, interval) to anonymous, authenticated;
grant execute on function app_hidden.add_passkey(uuid, text, bytea, bigint, text[], text, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.remove_passkey(uuid, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.my_passkeys() to anonymous, authenticated;
grant execute on function app_hidden.my_second_factor_status() to anonymous, authenticated;

-- OpenID Connect (plugins/oidc.ts, src/http/oidc.ts; migrations/current.sql "sign-in: openid
-- connect"). The callback and completeOidcSignIn are open to anyone (the state or the one-time
-- code is the proof); linking refuses anonymous callers with require_user().
grant execute on function app_hidden.oidc_begin(text, text, text, text, text, text, interval) to anonymous, authenticated;
grant execute on function app_hidden.oidc_take_state(text, text) to anonymous, authenticated;
grant execute on function app_hidden.oidc_fail(uuid, text, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.oidc_resolve(uuid, text, text, boolean, text, text, text, interval, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.oidc_complete_sign_in(text, interval, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.link_identity(text, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.unlink_identity(uuid, inet, text) to anonymous, authenticated;
grant execute on function app_hidden.my_identities() to anonymous, authenticated;

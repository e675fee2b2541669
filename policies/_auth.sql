-- Who may call the account functions the auth plugin (plugins/auth.ts) uses. They are
-- `security definer` and check everything themselves; signing in is open to anyone, the rest
-- needs a signed-in user: those functions refuse anonymous callers first thing, with
-- UNAUTHENTICATED (so anonymous may execute them, to be told to sign in).

grant execute on function app_hidden.register(text, text, text, text, int, interval, inet, text) to anonymous, authenticated;
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

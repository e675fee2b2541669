-- Who may read and change app_public.users (the `Account` type): only its owner. E-mail and
-- phone are private; password_hash is readable by nobody through the API (no column grant).
-- Others see people through user_cards (`User`) and user_profiles.
select app_private.drop_policies('app_public.users');
alter table app_public.users enable row level security;

create policy select_own on app_public.users for select to authenticated
  using (id = (select app_public.current_user_id()));
create policy update_own on app_public.users for update to authenticated
  using (id = (select app_public.current_user_id()))
  with check (id = (select app_public.current_user_id()));
-- No delete policy and no delete grant: an account is deleted with requestAccountDeletion
-- (password, grace period, then the erasure job: plugins/accountLifecycle.ts, migration section
-- "personal data: deletion and erasure"), never by a plain DELETE that would cascade at once.

revoke all on app_public.users from anonymous, authenticated;
-- Accounts are created by register (plugins/auth.ts), never inserted directly.
grant select (id, email, email_verified, phone, phone_verified, status, last_login_at,
              login_count, created_at, updated_at)
  on app_public.users to anonymous, authenticated;
grant update (phone) on app_public.users to authenticated;

-- The account lifecycle's entry points (security definer; each checks the password itself).
grant execute on function app_hidden.request_account_deletion(text, interval, int, inet, text, int, int, interval)
  to anonymous, authenticated;
grant execute on function app_hidden.cancel_account_deletion(text, text, int, inet, text, int, int, interval)
  to anonymous, authenticated;

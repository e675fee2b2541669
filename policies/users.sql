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
create policy delete_own on app_public.users for delete to authenticated
  using (id = (select app_public.current_user_id()));
comment on policy delete_own on app_public.users is
  E'Deleting your account deletes everything of yours (cascades) and is recorded in the audit log.';

revoke all on app_public.users from anonymous, authenticated;
-- Accounts are created by register (plugins/auth.ts), never inserted directly.
grant select (id, email, email_verified, phone, phone_verified, status, last_login_at,
              login_count, created_at, updated_at)
  on app_public.users to anonymous, authenticated;
grant update (phone) on app_public.users to authenticated;
grant delete on app_public.users to authenticated;

-- Who may read and change app_public.user_profiles: a profile is seen by everyone when public,
-- by the owner's accepted friends when `friends`, by the owner alone when `private`; never
-- across a block. Only the owner edits it.
select app_private.drop_policies('app_public.user_profiles');
alter table app_public.user_profiles enable row level security;

create policy select_own on app_public.user_profiles for select to authenticated
  using (user_id = (select app_public.current_user_id()));
create policy select_public on app_public.user_profiles for select to anonymous, authenticated
  using (privacy_level = 'public' and user_id not in (select app_hidden.blocked_user_ids()));
create policy select_friends on app_public.user_profiles for select to authenticated
  using (privacy_level = 'friends' and user_id in (select app_hidden.friend_ids())
         and user_id not in (select app_hidden.blocked_user_ids()));
create policy insert_own on app_public.user_profiles for insert to authenticated
  with check (user_id = (select app_public.current_user_id()));
create policy update_own on app_public.user_profiles for update to authenticated
  using (user_id = (select app_public.current_user_id()))
  with check (user_id = (select app_public.current_user_id()));
comment on policy select_friends on app_public.user_profiles is
  E'Accepted friends see profiles marked `friends`, never across a block (a block also ends the friendship: trigger on friendships).';

revoke all on app_public.user_profiles from anonymous, authenticated;
grant select on app_public.user_profiles to anonymous, authenticated;
grant insert (user_id, username, display_name, bio, avatar_url, cover_image_url, birth_date,
              gender, location, website, privacy_level)
  on app_public.user_profiles to authenticated;
grant update (username, display_name, bio, avatar_url, cover_image_url, birth_date, gender,
              location, website, privacy_level, show_last_seen)
  on app_public.user_profiles to authenticated;

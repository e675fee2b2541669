-- Who may read and change app_public.events: never across a block with the organiser. You see
-- your own events; a group's events if you are an active member (public group events also by
-- privacy, like ungrouped ones); otherwise by privacy: `public` everyone, `friends` the
-- organiser's accepted friends, `private` the organiser and those who answered it. You create
-- events as yourself, in a group only as an active member; the organiser edits, cancels and
-- deletes.
select app_private.drop_policies('app_public.events');
alter table app_public.events enable row level security;

create policy select_own on app_public.events for select to authenticated
  using (created_by = (select app_public.current_user_id()));
create policy select_visible on app_public.events for select to anonymous, authenticated
  using (
    created_by not in (select app_hidden.blocked_user_ids())
    and (
      group_id in (select app_hidden.active_group_ids())
      or ((group_id is null or group_id in (select app_hidden.public_group_ids()))
          and (privacy_level = 'public'
               or (privacy_level = 'friends' and created_by in (select app_hidden.friend_ids()))
               or (privacy_level = 'private'
                   and (select app_public.current_user_id()) in (select app_hidden.event_attendee_ids(id)))))
    )
  );
create policy insert_own on app_public.events for insert to authenticated
  with check (created_by = (select app_public.current_user_id())
              and (group_id is null or group_id in (select app_hidden.active_group_ids())));
create policy update_own on app_public.events for update to authenticated
  using (created_by = (select app_public.current_user_id()))
  with check (created_by = (select app_public.current_user_id()));
create policy delete_own on app_public.events for delete to authenticated
  using (created_by = (select app_public.current_user_id()));

revoke all on app_public.events from anonymous, authenticated;
grant select on app_public.events to anonymous, authenticated;
grant insert (title, description, event_type, start_date, end_date, timezone, location, venue_name,
              address, latitude, longitude, max_attendees, is_online, meeting_url, cover_image_url,
              privacy_level, created_by, group_id)
  on app_public.events to authenticated;
grant update (title, description, event_type, start_date, end_date, timezone, location, venue_name,
              address, latitude, longitude, max_attendees, is_online, meeting_url, cover_image_url,
              privacy_level, is_cancelled, cancelled_at)
  on app_public.events to authenticated;
grant delete on app_public.events to authenticated;

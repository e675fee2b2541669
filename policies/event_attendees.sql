-- Who may read and change app_public.event_attendees: answers are visible with their event, but
-- not those of people on either side of a block with you. You answer (RSVP), change and
-- withdraw only your own answer, only to events you can see.
select app_private.drop_policies('app_public.event_attendees');
alter table app_public.event_attendees enable row level security;

-- `offset 0` keeps the EXISTS a per-row primary-key lookup: without it PostgreSQL may turn it
-- into a hash of every visible event, built by scanning the events table once per query.
create policy select_visible on app_public.event_attendees for select to anonymous, authenticated
  using (user_id not in (select app_hidden.blocked_user_ids())
         and exists (select 1 from app_public.events e where e.id = event_id offset 0));
create policy insert_own on app_public.event_attendees for insert to authenticated
  with check (user_id = (select app_public.current_user_id())
              and exists (select 1 from app_public.events e where e.id = event_id));
create policy update_own on app_public.event_attendees for update to authenticated
  using (user_id = (select app_public.current_user_id()))
  with check (user_id = (select app_public.current_user_id()));
create policy delete_own on app_public.event_attendees for delete to authenticated
  using (user_id = (select app_public.current_user_id()));

revoke all on app_public.event_attendees from anonymous, authenticated;
grant select on app_public.event_attendees to anonymous, authenticated;
grant insert (event_id, user_id, status) on app_public.event_attendees to authenticated;
grant update (status) on app_public.event_attendees to authenticated;
grant delete on app_public.event_attendees to authenticated;

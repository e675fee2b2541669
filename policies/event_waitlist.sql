-- Who may read and change app_public.event_waitlist: you see your own place, the organiser sees
-- the whole list. You join (through rsvpEvent) and leave only your own place, only for events
-- you can see. Promotion to `going` is done by the database (trigger), not by people.
select app_private.drop_policies('app_public.event_waitlist');
alter table app_public.event_waitlist enable row level security;

create policy select_own on app_public.event_waitlist for select to authenticated
  using (user_id = (select app_public.current_user_id()));
create policy select_organiser on app_public.event_waitlist for select to authenticated
  using (exists (select 1 from app_public.events e
                  where e.id = event_id and e.created_by = (select app_public.current_user_id())));
create policy insert_own on app_public.event_waitlist for insert to authenticated
  with check (user_id = (select app_public.current_user_id())
              and exists (select 1 from app_public.events e where e.id = event_id));
create policy delete_own on app_public.event_waitlist for delete to authenticated
  using (user_id = (select app_public.current_user_id()));

revoke all on app_public.event_waitlist from anonymous, authenticated;
grant select on app_public.event_waitlist to anonymous, authenticated;
grant insert (event_id, user_id) on app_public.event_waitlist to authenticated;
grant delete on app_public.event_waitlist to authenticated;

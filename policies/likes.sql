-- Who may read and change app_public.likes: a like is visible when its target (post or
-- comment) is visible to you and the liker is not on either side of a block with you. You like
-- and unlike only as yourself, only targets you can see (which also refuses likes of targets
-- that do not exist); one like per target (unique constraint).
select app_private.drop_policies('app_public.likes');
alter table app_public.likes enable row level security;

-- `offset 0` keeps the EXISTS a per-row primary-key lookup: without it PostgreSQL may turn it
-- into a hash of every visible target, built by scanning the target's table once per query.
create policy select_visible on app_public.likes for select to anonymous, authenticated
  using (
    user_id not in (select app_hidden.blocked_user_ids())
    and case target_type
          when 'post' then exists (select 1 from app_public.posts p where p.id = target_id offset 0)
          when 'comment' then exists (select 1 from app_public.comments c where c.id = target_id offset 0)
          else false
        end
  );
create policy insert_own on app_public.likes for insert to authenticated
  with check (
    user_id = (select app_public.current_user_id())
    and case target_type
          when 'post' then exists (select 1 from app_public.posts p where p.id = target_id)
          when 'comment' then exists (select 1 from app_public.comments c where c.id = target_id)
          else false
        end
  );
create policy delete_own on app_public.likes for delete to authenticated
  using (user_id = (select app_public.current_user_id()));

revoke all on app_public.likes from anonymous, authenticated;
grant select on app_public.likes to anonymous, authenticated;
grant insert (user_id, target_type, target_id) on app_public.likes to authenticated;
grant delete on app_public.likes to authenticated;

--! Previous: sha1:4a4b4d2bfc8fee30fe661d50c1d2a4046970f783
--! Hash: sha1:1d8766273c5833d6b3aef4d6fe891e3622783ff2

-- A worker pool can lock jobs before its first heartbeat reaches app_private.worker_instances
-- (graphile-worker starts taking jobs as soon as the pool exists). Killed in that window, it
-- left its jobs locked for graphile-worker's four hours: nobody knew its id, so it was never
-- found silent. Found by the chaos soak on CI (a notifications__create job locked to the end).
-- Through graphile-worker's public view (a queue is locked only with one of its jobs).

create or replace function app_private.unannounced_worker_pools(p_missed_beats int, p_interval interval)
returns setof text as $$
  select distinct j.locked_by
    from graphile_worker.jobs j
   where j.locked_by is not null
     and not exists (select 1 from app_private.worker_instances w where w.id = j.locked_by)
     and j.locked_at < now() - p_missed_beats * greatest(
           p_interval, (select max(w.heartbeat_interval) from app_private.worker_instances w));
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.unannounced_worker_pools(int, interval) is
  E'Worker pools holding job locks without a heartbeat on record (killed before their first beat), the locks older than that many beats of the slowest pool on record (and of p_interval): their jobs may be handed to others.';

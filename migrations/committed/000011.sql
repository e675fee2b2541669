--! Previous: sha1:d813fdb4ae6f357bfb826ef749d02ac573ec9eb8
--! Hash: sha1:e721acf9ecc77d458ce035ffdd6bab8fb5367066

-- 0011 — maintenance and retention (issue #12, design section 7): autovacuum tuned for the hot
-- tables, retention for what grows without bound, and a cheap index-bloat estimate for the weekly
-- REINDEX CONCURRENTLY (src/tasks/maintenance.ts, docs/OPERATIONS.md "Maintenance").
-- graphile-worker's queue table is tuned from the migrate step instead (src/db/autovacuum.ts):
-- graphile-worker owns its schema and has recreated that table in past upgrades, which would
-- silently drop settings made here.
--
-- Autovacuum runs on a table once dead rows exceed threshold + scale_factor × rows (default 50 +
-- 20%), analyzes after 50 + 10% changed rows, and vacuums insert-only tables (visibility map,
-- freezing) after 1000 + 20% inserts. Figures from BENCHMARKS.md, scale 1.

-- likes: 3M rows; like/unlike runs ~170 writes/s, half of them deletes (~85 dead rows/s). At 20%
-- autovacuum would wait for 600k dead rows (about 2 h of that load) while idx_likes_target and
-- idx_likes_user_id bloat and the counters' count(*) by target scan dead tuples. 1% = 30k dead rows
-- (~6 min); analyze at 2% (60k) keeps per-target estimates fresh; vacuum after 2% inserts so the
-- visibility map stays set and recounts remain index-only scans.
alter table app_public.likes set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.02
);

-- notifications: 1M rows; ~260 inserts/s under load (notification jobs), each later updated once
-- (read) and purged after NOTIFICATION_RETENTION_DAYS. Updates of is_read are not HOT (it is
-- indexed), so every read leaves a dead row and index entries: 2% (20k) instead of 200k; analyze at
-- 2% so the unread counts' estimates follow; inserts at 5% (50k, ~3 min of load).
alter table app_public.notifications set (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05
);

-- messages: 1M rows; ~400 inserts/s at peak (send_message), almost insert-only (edits and
-- soft-deletes are rare). Dead rows: 5% (50k) is plenty; inserts at 5% so pages become
-- all-visible and frozen in small steps rather than one 200k-row pass; analyze at 2% so a
-- conversation's newest messages are in the statistics.
alter table app_public.messages set (
  autovacuum_vacuum_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05
);

-- Retention. Each purge deletes one batch (its own transaction when called on its own: the task
-- loops until a batch comes back short), oldest first, so no delete holds row locks or an old
-- snapshot for long, and autovacuum can reclaim between batches.

create or replace function app_private.purge_audit_log(retention interval, batch_size int)
returns int as $$
  with doomed as (
    select id from app_private.audit_log
     where occurred_at < now() - retention
     order by occurred_at
     limit batch_size
       for update skip locked
  ), gone as (
    delete from app_private.audit_log a using doomed d where a.id = d.id returning 1
  )
  select count(*)::int from gone;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_audit_log(interval, int) is
  E'Deletes up to batch_size audit records older than the retention period (AUDIT_RETENTION_DAYS), oldest first; returns how many.';

create or replace function app_private.purge_email_deliveries(retention interval, batch_size int)
returns int as $$
  with doomed as (
    select id from app_private.email_deliveries
     where created_at < now() - retention
     order by created_at
     limit batch_size
       for update skip locked
  ), gone as (
    delete from app_private.email_deliveries e using doomed d where e.id = d.id returning 1
  )
  select count(*)::int from gone;
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_email_deliveries(interval, int) is
  E'Deletes up to batch_size e-mail delivery records older than the retention period (EMAIL_DELIVERY_RETENTION_DAYS), oldest first; returns how many.';

-- Through graphile-worker's public view and function (what WorkerUtils.completeJobs calls), not
-- its private tables.
create or replace function app_private.purge_failed_jobs(retention interval, batch_size int)
returns int as $$
  select count(*)::int
    from graphile_worker.complete_jobs(array(
      select id from graphile_worker.jobs
       where attempts >= max_attempts and locked_at is null and updated_at < now() - retention
       order by id
       limit batch_size));
$$ language sql volatile set search_path to pg_catalog, public, pg_temp;
comment on function app_private.purge_failed_jobs(interval, int) is
  E'Deletes up to batch_size jobs that failed for good (no attempts left) longer ago than the retention period (FAILED_JOB_RETENTION_DAYS); returns how many.';

-- Index bloat, estimated from the catalog and planner statistics only (no index is read; what
-- pgstattuple's pgstatindex would measure exactly by reading every page, and it needs a superuser
-- to install): the simplified btree estimate of ioguix/pgsql-bloat-estimation. A btree tuple
-- costs a 4-byte line pointer plus an 8-byte header (12 with a null bitmap) and its key columns'
-- average width (pg_stats), each part aligned to 8 bytes; a page holds 8192 − 24 (header) − 16
-- (btree special space) bytes filled to the fillfactor (90 by default); plus one metapage.
-- Indexes grown by random inserts sit around 70% full (≈ 25% "bloat" here) and deduplicated
-- ones are smaller than estimated, so a threshold of 50% flags only real waste. Indexes without
-- statistics (never analyzed) are skipped, as are those the current role does not own.
create or replace function app_private.bloated_indexes(min_bloat_percent numeric, min_bytes bigint)
returns table (
  schema_name text, index_name text, table_name text,
  index_bytes bigint, expected_bytes bigint, bloat_percent numeric
) as $$
  with idx as (
    select i.indexrelid, n.nspname::text as nspname, ci.relname::text as index_name,
           ct.relname::text as table_name, i.indkey, ci.relpages::numeric as relpages,
           ci.reltuples::numeric as reltuples,
           coalesce((select substring(o from '^fillfactor=(\d+)$')::numeric
                       from unnest(ci.reloptions) o where o like 'fillfactor=%'), 90) as fillfactor
      from pg_index i
      join pg_class ci on ci.oid = i.indexrelid
      join pg_class ct on ct.oid = i.indrelid
      join pg_namespace n on n.oid = ci.relnamespace
      join pg_am am on am.oid = ci.relam
     where am.amname = 'btree' and ci.relkind = 'i'
       and i.indisvalid and i.indisready and not i.indisexclusion
       and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_'
       and pg_has_role(ct.relowner, 'MEMBER')
       and ci.reltuples >= 0 and ci.relpages > 1
  ), widths as (
    select idx.indexrelid,
           count(*) as columns,
           count(s.avg_width) as known,
           coalesce(sum((1 - s.null_frac) * s.avg_width), 0)::numeric as data_width,
           coalesce(max(s.null_frac), 0)::numeric as max_null_frac
      from idx
      join pg_attribute ia on ia.attrelid = idx.indexrelid and ia.attnum > 0
      -- a plain column's statistics are the table's; an expression's, the index's own
      left join pg_stats s
        on s.schemaname = idx.nspname and not s.inherited and s.attname = ia.attname
       and s.tablename = case when idx.indkey[ia.attnum - 1] = 0 then idx.index_name else idx.table_name end
     group by idx.indexrelid
  ), estimate as (
    select idx.*,
           1 + ceil(idx.reltuples / greatest(1, floor(
             (current_setting('block_size')::numeric - 24 - 16) * idx.fillfactor / 100
             / (4 + ceil((8 + case when w.max_null_frac > 0 then 4 else 0 end) / 8.0) * 8
                  + ceil(w.data_width / 8.0) * 8)))) as expected_pages
      from idx join widths w using (indexrelid)
     where w.known = w.columns
  )
  select e.nspname, e.index_name, e.table_name,
         (e.relpages * current_setting('block_size')::numeric)::bigint,
         (least(e.expected_pages, e.relpages) * current_setting('block_size')::numeric)::bigint,
         round(100 * (e.relpages - e.expected_pages) / e.relpages, 1)
    from estimate e
   where e.relpages > e.expected_pages
     and 100 * (e.relpages - e.expected_pages) / e.relpages >= min_bloat_percent
     and e.relpages * current_setting('block_size')::numeric >= min_bytes
   order by e.relpages desc;
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.bloated_indexes(numeric, bigint) is
  E'B-tree indexes the current role owns whose size exceeds the size estimated from their row count and key widths by at least min_bloat_percent, and that are at least min_bytes large. An estimate from statistics (fresh after ANALYZE), not a measurement.';

-- A REINDEX CONCURRENTLY that failed leaves an invalid index named <index>_ccnew (or _ccnewN)
-- behind; it costs writes and is never used. The reindex task drops these first.
create or replace function app_private.failed_reindex_leftovers()
returns table (schema_name text, index_name text) as $$
  select n.nspname::text, c.relname::text
    from pg_index i
    join pg_class c on c.oid = i.indexrelid
    join pg_class t on t.oid = i.indrelid
    join pg_namespace n on n.oid = c.relnamespace
   where not i.indisvalid and c.relname ~ '_ccnew[0-9]*$'
     and pg_has_role(t.relowner, 'MEMBER')
     and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_';
$$ language sql stable set search_path to pg_catalog, public, pg_temp;
comment on function app_private.failed_reindex_leftovers() is
  E'Invalid indexes left behind by a REINDEX CONCURRENTLY that failed (named *_ccnew*), which the reindex task drops.';

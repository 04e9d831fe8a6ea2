// Database: opening, the read pool, snapshots and closing. The writer is in writer.cpp.
#include "engine/database.h"

#include <algorithm>
#include <cstdint>
#include <future>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "engine/attachment_store.h"
#include "engine/database_internal.h"
#include "engine/schema.h"
#include "engine/write_plan.h"
#include "engine/write_txn.h"

namespace divan::engine {
namespace {

// Cap on the size the WAL file is left at. SQLite never shrinks the WAL at a checkpoint: a complete
// checkpoint only lets the next writer start over at the WAL's beginning, and it is then (the WAL
// reset) that the file is truncated to this limit. So a large transaction leaves a WAL of its size
// until a checkpoint completes with no reader still using the old frames, and the next write
// resets it. Large attachment bodies therefore never go in one transaction: staging copies them
// 8 MiB per transaction (writer.cpp), auto-checkpoints (1000 pages ≈ 4 MiB) run between those,
// and the WAL stays near this limit (measured: 8 MiB after a 64 MiB upload,
// attachments_test.cpp). 8 MiB is above what ordinary groups reach (~4 MiB plus a ~1 MiB group),
// so it costs them nothing.
constexpr const char* kJournalSizeLimit = "PRAGMA journal_size_limit = 8388608";

std::string pragma_text(sqlite::Connection& conn, const char* sql) {
  sqlite::Use q(conn.prepare(sql));
  return q->step() ? std::string(q->column_text(0)) : std::string();
}

std::unique_ptr<sqlite::Connection> open_reader(const DbFiles& files) {
  auto conn = std::make_unique<sqlite::Connection>(files.db, sqlite::Connection::Mode::kReadOnly);
  conn->exec(kBusyTimeout);
  return conn;
}

uint64_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// Visits the rows of a docs query: (doc_id, seq, winner, deleted, tree).
void visit_doc_rows(sqlite::Stmt& stmt, const std::function<bool(const DocRow&)>& visit) {
  while (stmt.step()) {
    DocRow row;
    row.id = stmt.column_text(0);
    row.seq = static_cast<uint64_t>(stmt.column_int(1));
    row.winner = stmt.column_text(2);
    row.deleted = stmt.column_int(3) != 0;
    row.tree_bytes = stmt.column_blob(4);
    if (!visit(row)) break;
  }
}

// WHERE/ORDER BY for an id range over `column`; binds ?1 = start and ?2 = end when present.
std::string range_sql(const IdRange& range, const char* column, bool live_only) {
  std::string sql;
  std::string c = column;
  auto add = [&](const std::string& cond) {
    sql += sql.empty() ? " WHERE " : " AND ";
    sql += cond;
  };
  if (live_only) add("deleted = 0");
  if (range.start) add(c + (range.descending ? " <= ?1" : " >= ?1"));
  if (range.end) {
    const char* op = range.descending ? (range.inclusive_end ? " >= ?2" : " > ?2")
                                      : (range.inclusive_end ? " <= ?2" : " < ?2");
    add(c + op);
  }
  sql += " ORDER BY " + c + (range.descending ? " DESC" : " ASC");
  return sql;
}

void bind_range(sqlite::Stmt& stmt, const IdRange& range) {
  if (range.start) stmt.bind_text(1, *range.start);
  if (range.end) stmt.bind_text(2, *range.end);
}

}  // namespace

// ---- DatabaseImpl -------------------------------------------------------------------------------

DatabaseImpl::DatabaseImpl(std::string name_in, DbFiles files_in, const DatabaseOptions& opts,
                           WriterPool* pool_in, bool create)
    : name(std::move(name_in)), files(std::move(files_in)), options(opts), pool(pool_in) {
  writer = std::make_unique<sqlite::Connection>(
      files.db, create ? sqlite::Connection::Mode::kCreate : sqlite::Connection::Mode::kReadWrite);
  writer->exec(kBusyTimeout);
  // Compaction gives freed pages back with PRAGMA incremental_vacuum (compaction.h). Only takes
  // effect on a file with no table yet: an older file keeps its mode.
  writer->exec("PRAGMA auto_vacuum = INCREMENTAL");
  // WAL: readers keep their snapshot while the writer commits, and a commit is one append + fsync.
  if (pragma_text(*writer, "PRAGMA journal_mode = WAL") != "wal") {
    throw std::runtime_error("cannot switch " + files.db.string() + " to WAL mode");
  }
  // FULL in WAL mode: every COMMIT fsyncs the WAL, so an acknowledged write survives power loss.
  writer->exec(options.fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF");
  writer->exec(kJournalSizeLimit);
  schema::init(*writer);
  // Staged bodies whose write never committed (the process died, or the write failed and no group
  // swept since): no batch is pending at open, so every row at refs 0 goes.
  writer->exec("BEGIN IMMEDIATE");
  try {
    attachment_store::sweep(*writer, {});
    writer->exec("COMMIT");
  } catch (...) {
    if (writer->in_transaction()) writer->exec("ROLLBACK");
    throw;
  }
  committed = schema::load_state(*writer);
  published = committed;
  update_seq.store(committed.update_seq);
  observers = std::make_shared<const std::vector<CommitObserver>>();
}

DatabaseImpl::~DatabaseImpl() { close(); }

void DatabaseImpl::close() {
  std::thread compaction_thread;
  {
    MutexLock lock(mu);
    closed = true;
    compaction_thread = std::move(compactor);
  }
  // Its queued step still runs (the drain below finishes the queue); the next one is refused.
  stop_compaction = true;
  if (compaction_thread.joinable()) compaction_thread.join();
  MutexLock lock(mu);
  while (drain_scheduled || !queue.empty() || !maintenance.empty() || leased != 0) {
    idle_cv.wait(lock);
  }
  // Under the lock so two concurrent close() calls cannot both close the same connections. When the
  // last connection closes SQLite checkpoints the WAL into the db file and deletes the WAL.
  idle_readers.clear();
  writer.reset();
}

Result<std::unique_ptr<ReadLease>> DatabaseImpl::lease_reader() {
  std::unique_ptr<sqlite::Connection> conn;
  {
    MutexLock lock(mu);
    if (closed) return fail(Code::kNotFound, reason::kNoDatabase);
    ++leased;  // counted before opening, so close() waits for a connection still being opened
    if (!idle_readers.empty()) {
      conn = std::move(idle_readers.back());
      idle_readers.pop_back();
    }
  }
  // Beyond the pool size a temporary connection is opened rather than making a reader wait;
  // return_reader() closes it.
  if (!conn) {
    try {
      conn = open_reader(files);
    } catch (...) {
      return_reader(nullptr);
      throw;
    }
  }
  auto lease = std::make_unique<ReadLease>();
  lease->db = this;
  lease->conn = std::move(conn);
  return lease;
}

Result<Snapshot> DatabaseImpl::snapshot() {
  auto lease = lease_reader();
  if (!lease) return tl::unexpected(lease.error());
  sqlite::Connection& conn = *(*lease)->conn;
  try {
    sqlite::Use(conn.prepare("BEGIN"))->run();
    // A deferred BEGIN takes its snapshot at the first read: read now, so the snapshot is the
    // state at snapshot() time (everything committed before it, nothing committed after).
    sqlite::Use q(conn.prepare("SELECT 1 FROM meta LIMIT 1"));
    q->step();
  } catch (...) {
    if (conn.in_transaction()) {
      try {
        conn.exec("ROLLBACK");
      } catch (...) {
        (*lease)->conn.reset();  // not reused: ~ReadLease closes it
      }
    }
    throw;
  }
  return Snapshot(std::move(*lease));
}

void DatabaseImpl::return_reader(std::unique_ptr<sqlite::Connection> conn) {
  {
    MutexLock lock(mu);
    if (conn && !closed && idle_readers.size() < options.max_readers) {
      idle_readers.push_back(std::move(conn));
      --leased;
      idle_cv.notify_all();
      return;
    }
  }
  // Close it before giving up the lease: close() must not see leased == 0 (and let the files be
  // deleted) while this connection is still open.
  conn.reset();
  MutexLock lock(mu);
  --leased;
  idle_cv.notify_all();
}

DbState DatabaseImpl::state() const {
  MutexLock lock(mu);
  return published;
}

ReadLease::~ReadLease() {
  if (conn) {
    try {
      if (conn->in_transaction()) sqlite::Use(conn->prepare("COMMIT"))->run();
    } catch (...) {
      conn.reset();  // a connection in an unknown state is not reused
    }
  }
  db->return_reader(std::move(conn));
}

// ---- Database -----------------------------------------------------------------------------------

Database::Database(std::unique_ptr<DatabaseImpl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

const std::string& Database::name() const { return impl_->name; }

void Database::submit(std::vector<WriteOp> ops, WriteDone done, Writer writer) {
  impl_->submit(std::move(ops), std::move(done), std::move(writer));
}

Result<std::vector<WriteOutcome>> Database::write(std::vector<WriteOp> ops, Writer writer) {
  // Shared: the writer thread may still be inside set_value() when get() returns here.
  auto promise = std::make_shared<std::promise<Result<std::vector<WriteOutcome>>>>();
  auto future = promise->get_future();
  impl_->submit(
      std::move(ops),
      [promise](Result<std::vector<WriteOutcome>> result) { promise->set_value(std::move(result)); },
      std::move(writer));
  return future.get();
}

Result<Snapshot> Database::snapshot() { return impl_->snapshot(); }

Result<DocWithBody> Database::doc_with_winner_body(std::string_view id, bool encoding_info) {
  auto lease = impl_->lease_reader();
  if (!lease) return tl::unexpected(lease.error());
  // docs.winner is the text of tree.winner(), written with the tree (writer.cpp store_doc), so the
  // join finds exactly the body read_revision() would read for the winner.
  sqlite::Use q((*lease)->conn->prepare(
      "SELECT d.seq, d.tree, r.body, r.atts FROM docs d "
      "LEFT JOIN revs r ON r.doc_id = d.doc_id AND r.rev = d.winner WHERE d.doc_id = ?1"));
  q->bind_text(1, id);
  if (!q->step()) return fail(Code::kNotFound, reason::kMissing);
  DocWithBody out;
  out.doc.id = std::string(id);
  out.doc.seq = static_cast<uint64_t>(q->column_int(0));
  auto tree = revtree::RevTree::decode(q->column_blob(1));
  if (!tree) throw std::runtime_error("corrupt revision tree for doc " + out.doc.id);
  out.doc.tree = std::move(*tree);
  if (!q->column_is_null(2)) {
    out.winner_body =
        attachment_store::with_stubs(q->column_text(2), q->column_text(3), encoding_info);
  }
  return out;
}

Result<std::optional<std::string>> Database::read_attachment(std::string_view digest,
                                                             uint64_t offset, size_t max) {
  // A snapshot (its own read transaction), so the rowid lookup and the blob read see one state;
  // released on return, before the caller writes the slice to a socket.
  auto snapshot = impl_->snapshot();
  if (!snapshot) return tl::unexpected(snapshot.error());
  return snapshot->read_attachment(digest, offset, max);
}

void Database::compact(bool low_priority) { impl_->start_compaction(low_priority); }

CompactionStatus Database::compaction() const { return impl_->compaction_status(); }

DbInfo Database::info() const {
  DbState s = impl_->state();
  DbInfo info;
  info.update_seq = s.update_seq;
  info.doc_count = s.doc_count;
  info.doc_del_count = s.doc_del_count;
  info.purge_seq = s.purge_seq;
  info.external_size = s.stored_size - std::min(s.history_size, s.stored_size);
  info.file_size = file_size_or_zero(impl_->files.db) + file_size_or_zero(impl_->files.wal());
  info.compact_running = impl_->compaction_status().running;
  uint64_t used = info.file_size;
  if (auto lease = impl_->lease_reader()) {
    sqlite::Connection& conn = *(*lease)->conn;
    auto pragma = [&](const char* sql) {
      sqlite::Use q(conn.prepare(sql));
      return q->step() ? static_cast<uint64_t>(q->column_int(0)) : 0;
    };
    uint64_t page_size = pragma("PRAGMA page_size");
    uint64_t pages = pragma("PRAGMA page_count");
    uint64_t free_pages = pragma("PRAGMA freelist_count");
    used = (pages - std::min(free_pages, pages)) * page_size;
    info.pages_size = pages * page_size;
  }
  // Old revisions' bodies take about their share of the stored bytes in pages too (a body of
  // 2.1 KB fills a 4 KB page alone, whatever it is), so the garbage is that share of the pages in
  // use. Attachment bodies are left out of the share: a leaf may still name them.
  double history_share = s.stored_size == 0 ? 0.0
                         : std::min(1.0, static_cast<double>(s.history_body_size) /
                                             static_cast<double>(s.stored_size));
  uint64_t history_pages = static_cast<uint64_t>(history_share * static_cast<double>(used));
  info.active_size = used - std::min(history_pages, used);
  info.reclaimable_size = history_pages + (s.incremental_vacuum ? info.pages_size - used : 0);
  return info;
}

uint64_t Database::purged_infos_limit() const {
  MutexLock lock(impl_->mu);
  return impl_->published.purged_infos_limit;
}

uint64_t Database::update_seq() const {
  return impl_->update_seq.load(std::memory_order_acquire);
}

uint32_t Database::revs_limit() const {
  MutexLock lock(impl_->mu);  // just the number: state() would copy `security`
  return impl_->published.revs_limit;
}

std::string Database::security() const {
  MutexLock lock(impl_->mu);
  return impl_->published.security;
}

void Database::add_commit_observer(CommitObserver observer) {
  MutexLock lock(impl_->mu);
  auto next = std::make_shared<std::vector<CommitObserver>>(*impl_->observers);
  next->push_back(std::move(observer));
  impl_->observers = std::move(next);
}

// ---- Snapshot -----------------------------------------------------------------------------------

Snapshot::Snapshot(std::unique_ptr<ReadLease> lease) : lease_(std::move(lease)) {}
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&&) noexcept = default;
Snapshot::~Snapshot() = default;

Result<DocRecord> Snapshot::doc(std::string_view id) {
  sqlite::Use q(lease_->conn->prepare("SELECT seq, tree FROM docs WHERE doc_id = ?1"));
  q->bind_text(1, id);
  if (!q->step()) return fail(Code::kNotFound, reason::kMissing);
  DocRecord rec;
  rec.id = std::string(id);
  rec.seq = static_cast<uint64_t>(q->column_int(0));
  auto tree = revtree::RevTree::decode(q->column_blob(1));
  if (!tree) throw std::runtime_error("corrupt revision tree for doc " + rec.id);
  rec.tree = std::move(*tree);
  return rec;
}

std::optional<std::string> Snapshot::body(std::string_view id, const revtree::RevId& rev,
                                          bool encoding_info) {
  auto stored = revision(id, rev);
  if (!stored) return std::nullopt;
  if (stored->atts.empty()) return std::move(stored->body);
  return attachment_store::with_stubs(stored->body, stored->atts, encoding_info);
}

std::optional<StoredRevision> Snapshot::revision(std::string_view id, const revtree::RevId& rev) {
  std::string rev_text = rev.str();
  sqlite::Use q(
      lease_->conn->prepare("SELECT body, atts FROM revs WHERE doc_id = ?1 AND rev = ?2"));
  q->bind_text(1, id);
  q->bind_text(2, rev_text);
  if (!q->step()) return std::nullopt;
  return StoredRevision{std::string(q->column_text(0)), std::string(q->column_text(1))};
}

Result<WinnerAttachments> Snapshot::winner_attachments(std::string_view id) {
  // docs.winner and docs.deleted are tree.winner() as written with the tree (writer.cpp
  // store_doc): the same revision doc(id)->tree.winner() names.
  sqlite::Use q(lease_->conn->prepare(
      "SELECT d.deleted, r.doc_id IS NOT NULL, r.atts FROM docs d "
      "LEFT JOIN revs r ON r.doc_id = d.doc_id AND r.rev = d.winner WHERE d.doc_id = ?1"));
  q->bind_text(1, id);
  if (!q->step()) return fail(Code::kNotFound, reason::kMissing);
  WinnerAttachments out;
  out.deleted = q->column_int(0) != 0;
  if (q->column_int(1) != 0) out.atts = std::string(q->column_text(2));
  return out;
}

std::optional<Error> Snapshot::check_stubs(const DocUpdate& update) {
  if (!update.has_stubs()) return std::nullopt;
  auto doc = this->doc(update.id());
  WritePlan plan = plan_write(doc ? std::move(doc->tree) : revtree::RevTree(), update);
  // A write that fails otherwise (conflict, bad path) or stores nothing never looks at its stubs.
  if (plan.error || !plan.store) return std::nullopt;
  auto atts = resolve_attachments(*lease_->conn, update, plan);
  if (!atts && atts.error().code == Code::kMissingStub) return std::move(atts.error());
  return std::nullopt;
}

std::optional<std::string> Snapshot::read_attachment(std::string_view digest, uint64_t offset,
                                                     size_t max) {
  return attachment_store::read(*lease_->conn, digest, offset, max);
}

void Snapshot::scan_by_id(const IdRange& range, const std::function<bool(const DocRow&)>& visit) {
  std::string sql = "SELECT doc_id, seq, winner, deleted, tree FROM docs" +
                    range_sql(range, "doc_id", !range.include_deleted);
  sqlite::Use q(lease_->conn->prepare(sql));
  bind_range(*q, range);
  visit_doc_rows(*q, visit);
}

uint64_t Snapshot::count_before(std::string_view id, bool descending) {
  // Counts over the docs_live partial index: keys only, no tree blobs read.
  sqlite::Use q(lease_->conn->prepare(
      descending ? "SELECT count(*) FROM docs WHERE deleted = 0 AND doc_id > ?1"
                 : "SELECT count(*) FROM docs WHERE deleted = 0 AND doc_id < ?1"));
  q->bind_text(1, id);
  return q->step() ? static_cast<uint64_t>(q->column_int(0)) : 0;
}

void Snapshot::scan_by_seq(uint64_t since, bool descending,
                           const std::function<bool(const DocRow&)>& visit) {
  if (descending) {
    sqlite::Use q(lease_->conn->prepare(
        "SELECT doc_id, seq, winner, deleted, tree FROM docs ORDER BY seq DESC"));
    visit_doc_rows(*q, visit);
    return;
  }
  sqlite::Use q(lease_->conn->prepare(
      "SELECT doc_id, seq, winner, deleted, tree FROM docs WHERE seq > ?1 ORDER BY seq ASC"));
  q->bind_int(1, static_cast<int64_t>(since));
  visit_doc_rows(*q, visit);
}

uint64_t Snapshot::update_seq() {
  // The UNIQUE index on seq makes max(seq) a single b-tree descent. The floor is the seq of a
  // purge that removed the newest document (purge.cpp).
  sqlite::Use q(lease_->conn->prepare(
      "SELECT max(coalesce((SELECT max(seq) FROM docs), 0), "
      "coalesce((SELECT value FROM meta WHERE key = 'update_seq_floor'), 0))"));
  return q->step() ? static_cast<uint64_t>(q->column_int(0)) : 0;
}

revtree::RevsDiff Snapshot::revs_diff(std::string_view id, const std::vector<revtree::RevId>& revs) {
  auto doc = this->doc(id);
  const revtree::RevTree unknown;  // a doc we never saw: every rev missing, no ancestors
  revtree::RevsDiff diff = (doc ? doc->tree : unknown).revs_diff(revs);
  if (diff.missing.empty()) return diff;
  {
    sqlite::Use any(lease_->conn->prepare("SELECT 1 FROM purges LIMIT 1"));
    if (!any->step()) return diff;
  }
  std::erase_if(diff.missing, [&](const revtree::RevId& rev) {
    return recorded_purge(*lease_->conn, id, rev);
  });
  if (diff.missing.empty()) diff.possible_ancestors.clear();
  return diff;
}

uint64_t Snapshot::count_after_seq(uint64_t seq) {
  // Counts over the seq index: keys only, no tree blobs read.
  sqlite::Use q(lease_->conn->prepare("SELECT count(*) FROM docs WHERE seq > ?1"));
  // Clamped: a seq beyond INT64_MAX would bind as a negative number and count everything.
  q->bind_int(1, static_cast<int64_t>(std::min<uint64_t>(seq, INT64_MAX)));
  return q->step() ? static_cast<uint64_t>(q->column_int(0)) : 0;
}

std::optional<LocalDoc> Snapshot::local(std::string_view id) {
  sqlite::Use q(lease_->conn->prepare("SELECT rev, body FROM local_docs WHERE id = ?1"));
  q->bind_text(1, id);
  if (!q->step()) return std::nullopt;
  LocalDoc doc;
  doc.id = std::string(id);
  doc.rev_counter = static_cast<uint64_t>(q->column_int(0));
  doc.body = std::string(q->column_text(1));
  return doc;
}

void Snapshot::scan_local(const IdRange& range, const std::function<bool(const LocalDoc&)>& visit) {
  std::string sql = "SELECT id, rev, body FROM local_docs" + range_sql(range, "id", false);
  sqlite::Use q(lease_->conn->prepare(sql));
  bind_range(*q, range);
  while (q->step()) {
    LocalDoc doc;
    doc.id = std::string(q->column_text(0));
    doc.rev_counter = static_cast<uint64_t>(q->column_int(1));
    doc.body = std::string(q->column_text(2));
    if (!visit(doc)) break;
  }
}

}  // namespace divan::engine

// Rules a database applies to every document write, whoever makes it — an HTTP handler, the
// replicator's local peer, a tool: CouchDB's before_doc_update and validate_doc_update.
//
// Two rules hold for every database and live in the writer itself: a design document may be
// written only by a database admin, and a policy's refusal fails that write alone (the others of
// its batch go on). The rest is per database: the node installs a WritePolicy for `_users`
// (password hashing, the `_auth` validation) and for `_replicator` databases (replication docs
// are validated and get an owner) through CatalogOptions::write_policies, so no path can write
// past them.
//
// Thread-safety: a policy is shared by every thread writing the database; its methods must be
// const and thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/write_ops.h"

namespace divan::engine {

// Who is writing (CouchDB's #user_ctx as a validation function sees it).
struct Writer {
  std::optional<std::string> name;  // none: anonymous
  std::vector<std::string> roles;   // "_admin" for server admins
  bool db_admin = true;             // a server admin or an admin of this database (`_security`)

  // The node itself (replication state written back, system setup): an admin.
  static Writer node() { return Writer{std::nullopt, {"_admin"}, true}; }
  bool has_role(std::string_view role) const;
  bool server_admin() const { return has_role("_admin"); }
};

// The error a design-document write by someone who is no database admin gets: 401 for anonymous,
// else 403, "You are not a db or server admin." (couch_db:check_is_admin).
Error not_db_admin_error(const Writer& writer);

class WritePolicy {
 public:
  virtual ~WritePolicy() = default;

  // Before the write is queued, on the submitting thread (it may be slow: a password hash must not
  // run on the writer). May replace `update` (DocUpdate::with_body keeps derived fields right) or
  // refuse it with an error, which becomes that op's outcome.
  [[nodiscard]] virtual Result<void> prepare(DocUpdate& update, const Writer& writer) const {
    (void)update;
    (void)writer;
    return {};
  }

  // Inside the writer's transaction, after the edit rules accepted the write (a conflict is
  // reported as a conflict, as CouchDB checks revisions before validation): `old_body` is the
  // document's current winning body (compact JSON; nullopt when there is none or it is deleted).
  // An error refuses this write only.
  virtual std::optional<Error> validate(const DocUpdate& update,
                                        const std::optional<std::string>& old_body,
                                        const Writer& writer) const {
    (void)update;
    (void)old_body;
    (void)writer;
    return std::nullopt;
  }
};

// The policy of a database by name (nullptr: none), asked once when the database opens.
using WritePolicies = std::function<std::shared_ptr<const WritePolicy>(std::string_view db_name)>;

}  // namespace divan::engine

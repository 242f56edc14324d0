#pragma once
// Idempotency-Key, a part of the chat use case: a request repeated with the same key gets the first
// answer again, without a second model call, a second turn or a second charge to the rate limiter. Every
// front door (POST /chat, POST /v1/chat/completions, POST /v1/messages) gets it from ChatService,
// between check() and prepare():
//
//   the front door                                  ChatService (store::IdempotencyStore underneath)
//   reads and checks the key, builds the      ->    claim(): claims (owner, key) for the request's deadline
//   request's fingerprint and its answer            plus a margin, before anything is read or charged
//   maps the outcome to its wire format       <-    an IdempotencyOutcome (a value, not an error):
//                                                   claimed | replay | conflict | in_progress
//   claimed: prepare(), admit(), finish()     ->    a failure in any of them releases the key (nothing is
//                                                   stored, so a retry runs again); finish() stores the
//                                                   answer once the turn is saved
//
// What is stored: the front door's own success body (status 200), byte for byte as it answered, under a
// fingerprint that names the front door's method and route. One key used on two routes, or with two
// bodies, is two different requests (conflict), so a stored answer is only ever replayed by the front
// door that wrote it: each replays in its own wire format without reading another's (a streamed
// request's front door turns its stored body into its own short event stream), and the records stored
// before idempotency moved here (POST /chat bodies under "POST /chat" fingerprints) stay valid.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "store/idempotency.hpp"

namespace ba::agent {

struct ChatOutput;

// 1-255 printable ASCII characters (0x21-0x7e; no spaces, no control characters).
bool valid_idempotency_key(std::string_view key);
inline constexpr std::string_view kIdempotencyKeyRule = "1-255 printable ASCII characters without spaces";

// A request's fingerprint: hex SHA-256 of "<method> <route>\n" + the canonical body, a JSON body
// re-serialized with object keys sorted (so key order and whitespace do not matter; any value does);
// anything else hashed as is.
std::string request_fingerprint(std::string_view method, std::string_view route, std::string_view body);

struct IdempotencyConfig {
  // Completed answers are replayed for this long; an in-flight claim lasts the request's deadline plus
  // the margin (so a crashed request frees its key).
  std::chrono::milliseconds retention{std::chrono::hours{24}};
  std::chrono::milliseconds in_flight_margin{10'000};
};

// A request carrying an Idempotency-Key, as its front door describes it.
struct IdempotentRequest {
  std::string key;          // valid_idempotency_key()
  std::string fingerprint;  // request_fingerprint(method, route, body) of this front door's request
  // The front door's success body for the turn's output: stored as is and replayed to repeats.
  std::function<std::string(const ChatOutput&)> answer;
};

// What ChatService::claim() decided.
struct IdempotencyOutcome {
  enum class Kind {
    claimed,      // this request holds the key (or there is no store, and nothing to hold): go on
    replay,       // answered before: send `status` and `body` again; nothing else runs
    conflict,     // the key was used with another request (another route or body): kKeyReusedMessage
    in_progress,  // the first request with this key is still running: kInProgressMessage
  };
  Kind kind = Kind::claimed;
  int status = 0;    // replay: the stored status
  std::string body;  // replay: the stored body, as its front door answered
};

// The words every front door uses for a conflict and for a key in progress.
inline constexpr std::string_view kKeyReusedMessage =
    "this Idempotency-Key was used with a different request body; use a new key for a new request";
inline constexpr std::string_view kInProgressMessage =
    "a request with this Idempotency-Key is still in progress; retry once it has finished to get its answer";

// The outcome for a key the store already holds (in flight or completed) and this request's fingerprint.
IdempotencyOutcome decide(const store::IdempotencyRecord& existing, std::string_view fingerprint);

}  // namespace ba::agent

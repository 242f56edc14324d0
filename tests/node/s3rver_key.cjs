// Preloaded into s3rver (node --require) by tests that need it to verify SigV4 with their own key pair
// (tests/support/child_process.hpp, start_s3rver): BA_S3RVER_KEY_ID / BA_S3RVER_SECRET join S3RVER/S3RVER.
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
if (process.env.BA_S3RVER_KEY_ID) DUMMY_ACCOUNT.createKeyPair(process.env.BA_S3RVER_KEY_ID, process.env.BA_S3RVER_SECRET);

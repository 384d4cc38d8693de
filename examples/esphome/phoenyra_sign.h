// Signed Phoenyra EMS commands from ESPHome (ESP32: mbedtls is part of ESP-IDF and Arduino).
#pragma once
#include <cstdio>
#include <string>
#include "esp_random.h"
#include "mbedtls/md.h"

// head: the command's fields whose keys sort before "nonce" (duration_s, id, mode), tail: those
// after it and before "ts" (setpoint_kw, strategy); both in key order, no spaces, e.g.
// head "\"mode\":\"manual\"", tail "\"setpoint_kw\":-5". ts: UNIX seconds from SNTP.
inline std::string phoenyra_sign(const std::string &head, const std::string &tail, const std::string &key,
                                 uint32_t ts) {
  char nonce[17];
  snprintf(nonce, sizeof nonce, "%08x%08x", (unsigned) esp_random(), (unsigned) esp_random());
  std::string body = "{" + head + (head.empty() ? "" : ",") + "\"nonce\":\"" + nonce + "\"," + tail +
                     (tail.empty() ? "" : ",") + "\"ts\":" + std::to_string(ts) + "}";
  unsigned char mac[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *) key.data(),
                  key.size(), (const unsigned char *) body.data(), body.size(), mac);
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  body.pop_back();  // the closing brace: sig is appended last (it is not part of what is signed)
  return body + ",\"sig\":\"" + hex + "\"}";
}

// Checks a retirement certificate in the browser with WebCrypto alone (SHA-256, Ed25519):
// the checkpoint's signature under the registry key shown on the page, then the RFC 9162
// inclusion proof of the sealed envelope against the checkpoint's root. The same steps,
// in the same order, as registry/transparency/proof_verifier.py (verify_proof_document).
"use strict";
(function () {
  const encoder = new TextEncoder();

  function fromHex(hex) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
      throw new Error("not hex");
    }
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  function checkpointMessage(treeSize, rootHex) {
    return encoder.encode("credit-registry checkpoint v1\n" + treeSize + "\n" + rootHex + "\n");
  }

  async function verifyCheckpoint(checkpoint, publicKey) {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
      "verify",
    ]);
    const root = fromHex(checkpoint.root);
    const message = checkpointMessage(BigInt(checkpoint.tree_size), toHex(root));
    return crypto.subtle.verify({ name: "Ed25519" }, key, fromHex(checkpoint.signature), message);
  }

  // RFC 9162 section 2.1.3.2, with BigInt so that no index is cut to 32 bits.
  async function verifyInclusion(leaf, index, treeSize, path, root) {
    if (index >= treeSize) return false;
    let fn = index;
    let sn = treeSize - 1n;
    let r = leaf;
    for (const p of path) {
      if (sn === 0n) return false;
      if (fn & 1n || fn === sn) {
        r = await nodeHash(p, r);
        if (!(fn & 1n)) {
          while (fn && !(fn & 1n)) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && toHex(r) === toHex(root);
  }

  // Returns {ok, message}; never throws: a malformed document is simply not valid.
  async function verifyDocument(document, publicKeyHex) {
    try {
      if (document.kind !== "inclusion") return { ok: false, message: "not an inclusion proof" };
      const checkpoint = document.checkpoint;
      if (!(await verifyCheckpoint(checkpoint, fromHex(publicKeyHex)))) {
        return { ok: false, message: "the checkpoint's signature does not verify under the registry key" };
      }
      const leaf = await leafHash(fromHex(document.sealed_envelope));
      const path = document.path.map(fromHex);
      const treeSize = BigInt(checkpoint.tree_size);
      const ok = await verifyInclusion(
        leaf, BigInt(document.position) - 1n, treeSize, path, fromHex(checkpoint.root)
      );
      const where = "position " + document.position + " in the log of " + checkpoint.tree_size + " envelopes";
      return { ok, message: (ok ? "included: " : "NOT included: ") + where };
    } catch (error) {
      return { ok: false, message: "malformed certificate: " + error.message };
    }
  }

  window.creditRegistry = { verifyDocument };

  function start() {
    const button = document.getElementById("verify");
    const source = document.getElementById("proof-document");
    const verdict = document.getElementById("verdict");
    const print = document.getElementById("print");
    if (print) {
      print.hidden = false;
      print.addEventListener("click", () => window.print());
    }
    if (!button || !source || !verdict) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      verdict.className = "";
      verdict.textContent = "…";
      let result;
      try {
        result = await verifyDocument(JSON.parse(source.textContent), button.dataset.registryKey);
      } catch (error) {
        result = { ok: false, message: "malformed certificate: " + error.message };
      }
      verdict.className = result.ok ? "valid" : "not-valid";
      verdict.dataset.result = result.ok ? "valid" : "not-valid";
      verdict.textContent =
        (result.ok ? button.dataset.valid : button.dataset.notValid) + " (" + result.message + ")";
      verdict.focus();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

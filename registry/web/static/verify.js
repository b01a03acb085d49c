// Checks a retirement certificate in the browser with WebCrypto alone (SHA-256, Ed25519):
// the checkpoint's signature under the registry key shown on the page, then the RFC 9162
// inclusion proof of the sealed envelope against the checkpoint's root. The same steps,
// in the same order, as registry/transparency/proof_verifier.py (verify_proof_document).
// Then each witness cosignature the certificate lists, over the statement the witness
// signs (proof_verifier.py's cosignature_message and witness_cosignatures): the verdict
// stays the registry's proof, each witness gets its own line.
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

  // Byte for byte proof_verifier.py's cosignature_message: name, key, size, root.
  function cosignatureMessage(witnessId, publicKey, treeSize, rootHex) {
    return encoder.encode(
      "credit-registry witness cosignature v1\n" + witnessId + "\n" + toHex(publicKey) + "\n" +
        treeSize + "\n" + rootHex + "\n"
    );
  }

  async function keyIdOf(publicKey) {
    return "ed25519:" + toHex(await sha256(publicKey)).slice(0, 16);
  }

  // As proof_verifier.py's _signature_verifies: a key or signature of the wrong length is
  // simply not valid.
  async function signatureVerifies(publicKey, signature, message) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
      "verify",
    ]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  async function verifyCheckpoint(checkpoint, publicKey) {
    const root = fromHex(checkpoint.root);
    const message = checkpointMessage(BigInt(checkpoint.tree_size), toHex(root));
    return signatureVerifies(publicKey, fromHex(checkpoint.signature), message);
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

  // One {witness_id, key_id, ok} per cosignature the document lists, in its order, as
  // proof_verifier.py's witness_cosignatures: a malformed entry is "(malformed)", not valid.
  // Each is over the document's own checkpoint, whether or not the registry's proof holds.
  async function verifyWitnesses(document) {
    const entries = (document && document.witness_cosignatures) || [];
    if (!Array.isArray(entries)) return [{ witness_id: "(malformed)", key_id: "", ok: false }];
    let cosigned = null; // {size, rootHex}; null: no checkpoint, so no cosignature is valid
    try {
      const checkpoint = document.checkpoint;
      cosigned = { size: BigInt(checkpoint.tree_size), rootHex: toHex(fromHex(checkpoint.root)) };
    } catch (error) {
      cosigned = null; // each cosignature is still listed, as not valid
    }
    const found = [];
    for (const entry of entries) {
      let witnessId;
      let publicKey;
      let signature;
      try {
        if (typeof entry.witness_id !== "string") throw new Error("no witness id");
        witnessId = entry.witness_id;
        publicKey = fromHex(entry.public_key);
        signature = fromHex(entry.signature);
      } catch (error) {
        found.push({ witness_id: "(malformed)", key_id: "", ok: false });
        continue;
      }
      let ok = false;
      if (cosigned !== null) {
        try {
          const message = cosignatureMessage(witnessId, publicKey, cosigned.size, cosigned.rootHex);
          ok = await signatureVerifies(publicKey, signature, message);
        } catch (error) {
          ok = false; // a key WebCrypto refuses verifies nothing
        }
      }
      found.push({ witness_id: witnessId, key_id: await keyIdOf(publicKey), ok });
    }
    return found;
  }

  window.creditRegistry = { verifyDocument, verifyWitnesses };

  // textContent only: a witness's name is shown as text, never parsed as markup.
  function showWitnesses(list, results, button) {
    list.replaceChildren();
    list.hidden = results.length === 0;
    for (const result of results) {
      const item = document.createElement("li");
      const state = result.ok ? "valid" : "not-valid";
      item.className = state;
      item.dataset.result = state;
      item.dataset.witnessId = result.witness_id;
      item.dataset.keyId = result.key_id;
      const name = document.createElement("span");
      name.className = "witness-name";
      name.textContent = result.witness_id;
      const keyId = document.createElement("code");
      keyId.textContent = result.key_id;
      const verdict = document.createElement("span");
      verdict.className = "witness-verdict";
      verdict.textContent = result.ok ? button.dataset.witnessValid : button.dataset.witnessNotValid;
      item.append(name, " ", keyId, ": ", verdict);
      list.append(item);
    }
  }

  function start() {
    const button = document.getElementById("verify");
    const source = document.getElementById("proof-document");
    const verdict = document.getElementById("verdict");
    const print = document.getElementById("print");
    const witnessList = document.getElementById("witness-verdicts");
    if (print) {
      print.hidden = false;
      print.addEventListener("click", () => window.print());
    }
    if (!button || !source || !verdict) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      verdict.className = "";
      verdict.textContent = "…";
      if (witnessList) witnessList.replaceChildren();
      let result;
      let witnesses = [];
      try {
        const parsed = JSON.parse(source.textContent);
        result = await verifyDocument(parsed, button.dataset.registryKey);
        witnesses = await verifyWitnesses(parsed);
      } catch (error) {
        result = { ok: false, message: "malformed certificate: " + error.message };
      }
      if (witnessList) showWitnesses(witnessList, witnesses, button);
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

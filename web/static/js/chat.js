// A stream's chat: recent messages on load, then chat.message / chat.hidden from the websocket.
// Sending goes over the same websocket; a refusal (chat.refused) comes back to this tab alone.
// With `moderate`, each message carries Hide (and, when the author's id is known, Mute) buttons.
import { api, boot, clock, el, show, t, tOf, when } from "./core.js";

export class ChatPanel {
  constructor(root, streamId, live, { moderate = false } = {}) {
    this.root = root;
    this.streamId = streamId;
    this.live = live;
    this.moderate = moderate;
    this.list = root.querySelector("[data-chat-list]");
    this.empty = root.querySelector("[data-chat-empty]");
    this.error = root.querySelector("[data-chat-error]");
    this.form = root.querySelector("[data-chat-form]");
    this.seen = new Set();
    if (this.form) {
      this.form.addEventListener("submit", (e) => {
        e.preventDefault();
        const input = this.form.elements.text;
        const text = input.value.trim();
        if (!text) return;
        if (this.live.send({ type: "chat.send", text })) {
          input.value = "";
          this.showError("");
        } else {
          this.showError(t("stream.reconnecting"));
        }
      });
    }
  }

  async load() {
    try {
      const page = await api("GET", `/api/streams/${this.streamId}/chat?limit=50`);
      for (const m of page.items) this.add({ message_id: m.message_id, author: m.author, text: m.text, user_id: m.user_id }, m.at);
    } catch {
      // The live feed still brings new messages.
    }
    return this;
  }

  apply(event) {
    const d = event.data || {};
    if (event.type === "chat.message") this.add(d, event.ts, true);
    else if (event.type === "chat.hidden") this.hide(d.message_id);
    else if (event.type === "chat.refused") this.showError(tOf("chat.refused.", event.reason));
  }

  add(d, ts, fresh = false) {
    if (this.seen.has(d.message_id)) return;
    this.seen.add(d.message_id);
    const item = el(
      "li",
      { class: fresh ? "chat-line fresh" : "chat-line", "data-message-id": d.message_id },
      el("b", { class: "chat-author", text: d.author || "*" }),
      el("span", { class: "chat-text", text: d.text }),
      el("time", { datetime: ts, text: clock(ts) }),
    );
    if (this.moderate) item.append(this.tools(d));
    this.list.append(item);
    while (this.list.children.length > 200) this.list.firstElementChild.remove();
    this.list.scrollTop = this.list.scrollHeight;
    show(this.empty, false);
  }

  tools(d) {
    const box = el("span", { class: "chat-tools" });
    const hide = el("button", { class: "button small", type: "button", "data-chat-hide": d.message_id, text: t("chat.hide") });
    hide.addEventListener("click", () => this.moderation(`/api/streams/${this.streamId}/chat/${d.message_id}/hide`));
    box.append(hide);
    if (d.user_id && d.user_id !== boot.user?.id) {
      const mute = el("button", { class: "button small", type: "button", "data-chat-mute": d.user_id, text: t("chat.mute") });
      mute.addEventListener("click", async () => {
        const result = await this.moderation(`/api/streams/${this.streamId}/mutes`, { user_id: d.user_id, minutes: 10 });
        if (result) this.showError(t("chat.muted", { when: when(result.until) }));
      });
      box.append(mute);
    }
    return box;
  }

  async moderation(path, json) {
    try {
      return await api("POST", path, json === undefined ? {} : { json });
    } catch (error) {
      this.showError(error.message);
      return null;
    }
  }

  hide(messageId) {
    this.seen.add(messageId);
    this.list.querySelector(`[data-message-id="${messageId}"]`)?.remove();
    show(this.empty, this.list.children.length === 0);
  }

  showError(text) {
    if (!this.error) return;
    this.error.textContent = text;
    this.error.hidden = !text;
  }
}

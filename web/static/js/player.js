// The broadcast itself: the stream's HLS pull URL played in the page (natively where the browser
// can, through the vendored hls.js elsewhere), and the link to its live room on its platform.
import { api, t } from "./core.js";

const PLATFORMS = { douyin: "抖音 Douyin", kuaishou: "快手 Kuaishou", wechat_channels: "微信视频号 WeChat Channels", studio: "" };

export async function showBroadcast(streamId) {
  let media;
  try {
    media = await api("GET", `/api/streams/${streamId}/media`);
  } catch {
    return null;
  }
  const section = document.getElementById("player");
  const video = document.getElementById("player-video");
  const link = document.getElementById("live-room");
  if (media.live_room_url) {
    link.href = media.live_room_url;
    link.textContent = t("stream.watch_on", { platform: PLATFORMS[media.platform] || media.platform || "" }).trim();
    link.hidden = false;
  }
  let player = null;
  if (media.hls_url) {
    video.hidden = false;
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = media.hls_url;
    } else if (window.Hls && window.Hls.isSupported()) {
      player = new window.Hls({ liveDurationInfinity: true });
      player.loadSource(media.hls_url);
      player.attachMedia(video);
    }
  }
  section.hidden = !(media.live_room_url || media.hls_url);
  return { media, player };
}

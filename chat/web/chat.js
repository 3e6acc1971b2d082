/* The chat page: a browser's window onto the chat server, as chat-client
   (chat/client.py) is a Tk one, and read the same way.

   1. The page connects on load to /chat on its own origin (a WebSocket) and
      logs in with "/login NICK", or "/login NICK PASSWORD" when the welcome
      asks for a password.
   2. Every message from the server holds whole lines, each ending in CR LF.
      Each line is shown as text (textContent, never HTML), and read for what
      the page needs to know: the login that worked, the room the user is in,
      the list of that room's commands (the block /help prints).
   3. The buttons come from that list, so a command added to a room on the
      server appears here with no change to the page. On entering a room the
      page asks for its list itself, and does not show that copy.
   4. A closed connection is said in the status line, with its reason, and
      Reconnect logs in again under the same nickname.
   5. What the user sends is shown too, after "> ", except a password; while
      a password is typed, the input line shows dots.

   Everything the page knows is in `state`; the elements it changes are in
   `page`. The page's own words are in LABELS, in English and Simplified
   Chinese, chosen by the browser's language; what the server sends is shown
   as it is. */
"use strict";

const CHAT_PATH = "/chat";

const HELP_HEADING = "Commands here:";
/* The line before the list of a room's commands. */

const WELCOME = /^Welcome, (\S+)! You are in the hall\./;
const RENAMED = /^You are now (\S+)\.$/;
const ENTERED = /^You are in the (?:room ([^.\s]+)|hall)\b/;
const OPERATOR = /^You are an operator now\b/;
const SHUTTING_DOWN = /shutting down/;
const ASKS_PASSWORD = /password/i;
const WITH_PASSWORD = /^(\s*\/(?:op|login\s+\S+)\s+)\S.*$/;
/* A line that gives a password (/op PASSWORD, /login NICK PASSWORD): shown
   without it, and not kept for the up arrow (a classroom may have a projector). */
const GIVING_PASSWORD = /^\s*\/(?:op|login\s+\S+)\s/;
/* The start of such a line: from there on, the input line shows dots. */

const PRIVATE = /^\[(private|announcement)\] ([^\s:]+): (.*)$/;
const CHAT = /^(\[\d\d:\d\d\] )?([^\s:]+): (.*)$/;
const ACTION = /^(\[\d\d:\d\d\] )?\* (\S+) (.*)$/;
const NOT_CHAT = /^(Usage|Rooms): /;
/* The two replies that look like a chat line ("word: text"): shown as replies. */

const NICK_COLOURS = 6;
const MAX_LINES = 2000;
/* Lines the conversation keeps; the oldest go first, so a long lesson cannot
   fill the tab's memory. */
const MAX_SENT = 100;
/* Lines the up arrow can recall. */

const LABELS = {
  en: {
    connecting: "Connecting…",
    connected: "Connected",
    reconnect: "Reconnect",
    intro: "Choose a nickname to join the chat.",
    nickname: "Nickname",
    password: "Class password",
    join: "Log in",
    message: "Message",
    placeholder: "Type a message, or a /command",
    send: "Send",
    newer: "New lines below ↓",
    conversation: "Conversation",
    commands: "Commands",
    hall: "hall",
    shuttingDown: "The server is shutting down.",
    lost: "Connection lost.",
    unreachable: "Cannot reach the server.",
    closed: "The server closed the connection.",
    loggedOut: "You logged out.",
    protocol: "Connection closed: protocol error {code}.",
    notConnected: "Not connected: press Reconnect first.",
    reconnected: "Connected again.",
    noNickname: "Please choose a nickname.",
    noSpaces: "A nickname has no spaces.",
    noPassword: "Please enter the class password.",
  },
  zh: {
    connecting: "正在连接…",
    connected: "已连接",
    reconnect: "重新连接",
    intro: "起一个昵称，加入聊天。",
    nickname: "昵称",
    password: "班级密码",
    join: "登录",
    message: "消息",
    placeholder: "输入消息，或 /命令",
    send: "发送",
    newer: "下面有新消息 ↓",
    conversation: "聊天记录",
    commands: "命令",
    hall: "大厅",
    shuttingDown: "已断开：服务器正在关闭。",
    lost: "已断开：连接中断。",
    unreachable: "无法连接到服务器。",
    closed: "已断开：服务器关闭了连接。",
    loggedOut: "你已退出登录。",
    protocol: "已断开：协议错误（{code}）。",
    notConnected: "未连接：请先点“重新连接”。",
    reconnected: "已重新连接。",
    noNickname: "请输入昵称。",
    noSpaces: "昵称里不能有空格。",
    noPassword: "请输入班级密码。",
  },
};

const state = {
  lang: "en",              // "en" or "zh": the page's own words
  socket: null,            // the open WebSocket, or null
  connection: "connecting", // "connecting", "connected" or "lost"
  reason: "",              // why it was lost: a key of LABELS
  closeCode: null,         // the code of the last close
  opened: false,           // this socket did open (a close before that: unreachable)
  reconnecting: false,     // this socket is a Reconnect's
  nickname: "",            // logged in as, or about to log in as
  password: "",            // the class password, if the server asks for one
  needsPassword: false,    // the welcome asked for a password
  wantsLogin: false,       // log in as soon as the socket opens
  loggingIn: false,        // a /login was sent; its answer has not come
  loggedIn: false,
  rejoin: false,           // the lost connection was logged in: Reconnect logs in again
  leaving: false,          // the user sent /logout
  shuttingDown: false,     // the server said it is shutting down
  room: null,              // "hall", a chat room's name, or null before login
  commands: [],            // the room's commands: [{name, usage, description, takesArgument}]
  listing: null,           // the list of commands being received, or null
  listingQuiet: false,     // that list is one the page asked for: not shown
  quietHelps: 0,           // lists the page asked for that are still to come
  sent: [],                // what the user sent, oldest first, for the up arrow
  recall: 0,               // where the up arrow is in sent (sent.length: the draft)
  draft: "",               // what was in the input line before the up arrow
  following: true,         // the user left the conversation at its end: keep it there
  scrollTop: 0,            // where the conversation was scrolled to, at the last look
};

const page = {};           // the elements with an id, by it in camelCase (login-note: loginNote)


/* ---- The page's own words */

function label(key, values) {
  let text = LABELS[state.lang][key];
  for (const name in values || {}) {
    text = text.replace("{" + name + "}", values[name]);
  }
  return text;
}

function chooseLanguage() {
  const wanted = (navigator.languages && navigator.languages[0]) || navigator.language || "";
  return wanted.toLowerCase().startsWith("zh") ? "zh" : "en";
}

function setLabels() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const element of document.querySelectorAll("[data-label]")) {
    element.textContent = label(element.dataset.label);
  }
  for (const element of document.querySelectorAll("[data-placeholder]")) {
    element.placeholder = label(element.dataset.placeholder);
  }
  for (const element of document.querySelectorAll("[data-aria-label]")) {
    element.setAttribute("aria-label", label(element.dataset.ariaLabel));
  }
}


/* ---- The conversation */

function atEnd() {
  const log = page.log;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 8;
}

function scrollToEnd() {
  page.log.scrollTop = page.log.scrollHeight;
  page.newer.hidden = true;
  state.following = true;
}

function followOrNot() {
  /* The user scrolled: back to the end, follow it again; up, stop following.
     A scroll the page made, and then a change of layout before this event
     came (the buttons filled in, a Reconnect button shown), is neither. */
  const top = page.log.scrollTop;
  if (atEnd()) {
    state.following = true;
    page.newer.hidden = true;
  } else if (top < state.scrollTop) {
    state.following = false;
  }
  state.scrollTop = top;
}

function addToLog(element) {
  /* Follow the newest line if the user is at the end; if they scrolled up to
     read, leave them there and say that there is more below. */
  page.log.append(element);
  while (page.log.childElementCount > MAX_LINES) {
    page.log.firstElementChild.remove();
  }
  if (state.following) {
    scrollToEnd();
  } else {
    page.newer.hidden = false;
  }
}

function part(text, className) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

function showLine(text, kind) {
  /* A line as it is, plain text; kind is "server", "mine" or "note". */
  const line = document.createElement("p");
  line.className = "line " + kind;
  line.textContent = text;
  addToLog(line);
}

function showNote(key, values) {
  showLine(label(key, values), "note");
}

function nickColour(nickname) {
  /* The same colour for a nickname every time (its FNV-1a hash). */
  let hash = 0x811c9dc5;
  for (const character of nickname) {
    hash = Math.imul(hash ^ character.codePointAt(0), 0x01000193) >>> 0;
  }
  return "nick-" + (hash % NICK_COLOURS);
}

function showChat(pieces, kind) {
  /* A chat line, its nickname set apart: pieces are [text, class] pairs,
     put together they are the line exactly as the server sent it. */
  const line = document.createElement("p");
  line.className = "line chat " + kind;
  for (const [text, className] of pieces) {
    if (text) {
      line.append(part(text, className));
    }
  }
  addToLog(line);
}

function showHelpLine(text) {
  /* "/usage   description": the two set in columns. */
  const line = document.createElement("p");
  line.className = "line help";
  const gap = text.search(/ {2,}/);
  if (gap < 0) {
    line.append(part(text, "usage"));
  } else {
    const start = text.slice(gap).search(/\S/) + gap;
    line.append(part(text.slice(0, start), "usage"), part(text.slice(start), "description"));
  }
  addToLog(line);
}

function showServerLine(text) {
  const inRoom = state.room !== null && state.room !== "hall";
  let match = PRIVATE.exec(text);
  if (match) {
    showChat([["[" + match[1] + "] ", "tag"], [match[2], "nick " + nickColour(match[2])],
              [": ", "colon"], [match[3], "text"]], match[1]);
    return;
  }
  match = inRoom && !NOT_CHAT.test(text) && CHAT.exec(text);
  if (match) {
    showChat([[match[1], "time"], [match[2], "nick " + nickColour(match[2])], [": ", "colon"],
              [match[3], "text"]], "said");
    return;
  }
  match = inRoom && ACTION.exec(text);
  if (match) {
    showChat([[match[1], "time"], ["* ", "star"], [match[2], "nick " + nickColour(match[2])],
              [" " + match[3], "text"]], "action");
    return;
  }
  showLine(text, "server");
}


/* ---- The room's commands, as buttons */

function parseCommand(text) {
  /* "/msg <nickname> <text>  send text to one user only." */
  const gap = text.search(/ {2,}/);
  const usage = gap < 0 ? text : text.slice(0, gap);
  return {
    name: usage.split(" ")[0],
    usage: usage,
    description: gap < 0 ? "" : text.slice(gap).trim(),
    takesArgument: /\s</.test(usage),
  };
}

function sameCommands(a, b) {
  return a.length === b.length && a.every((command, i) => command.usage === b[i].usage);
}

function setCommands(commands) {
  if (sameCommands(commands, state.commands)) {
    return;
  }
  state.commands = commands.slice();   // a copy: the list being received may grow
  const buttons = [];
  for (const command of state.commands) {
    if (command.name === "/login" && state.loggedIn) {
      continue;                        // it would only say "already logged in"
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "command" + (command.takesArgument ? " takes-argument" : "");
    button.textContent = command.name;
    button.title = command.usage + (command.description ? ": " + command.description : "");
    button.addEventListener("click", () => clickCommand(command));
    buttons.push(button);
  }
  page.commands.replaceChildren(...buttons);
}

function setCommandsEnabled(enabled) {
  for (const button of page.commands.querySelectorAll("button")) {
    button.disabled = !enabled;
  }
}

function clickCommand(command) {
  /* A command that needs more is started in the input line; the rest run. */
  if (command.takesArgument) {
    setLine(command.name + " ");
    page.line.focus();
  } else {
    say(command.name);
  }
}

function askForCommands() {
  state.quietHelps += 1;
  send("/help");
}


/* ---- What the page shows around the conversation */

function setState(connection, reason) {
  state.connection = connection;
  state.reason = reason || "";
  page.status.className = "status " + connection;
  page.statusText.textContent = label(connection === "lost" ? state.reason : connection,
                                     {code: state.closeCode});
  page.reconnect.hidden = connection !== "lost";
}

function setWhere() {
  if (!state.loggedIn) {
    page.where.textContent = "";
    document.title = "chat";
    return;
  }
  const room = state.room === "hall" ? label("hall") : state.room;
  page.where.textContent = state.nickname + " · " + room;
  document.title = "chat: " + state.nickname + " · " + room;
}

function showLogin(note) {
  page.talk.hidden = true;
  page.login.hidden = false;
  page.nickname.value = state.nickname || page.nickname.value;
  setLoginNote(note || "");
  page.nickname.focus();
}

function showTalk() {
  page.login.hidden = true;
  page.talk.hidden = false;
  page.line.focus();
}

function setLoginNote(text) {
  page.loginNote.textContent = text;
}

function showPasswordField() {
  if (!state.needsPassword) {
    state.needsPassword = true;
    page.passwordField.hidden = false;
  }
}

function rememberNickname() {
  try {
    localStorage.setItem("chat.nickname", state.nickname);
  } catch (error) {
    // No storage (a private window, say): the field starts empty next time.
  }
}

function storedNickname() {
  try {
    return localStorage.getItem("chat.nickname") || "";
  } catch (error) {
    return "";
  }
}


/* ---- What the server says */

function receive(text) {
  /* Show a line from the server, and learn the room and its commands from it. */
  if (state.listing !== null) {
    if (text.startsWith("/")) {
      state.listing.push(parseCommand(text));
      if (!state.listingQuiet) {
        showHelpLine(text);
      }
      return;
    }
    setCommands(state.listing);
    state.listing = null;
  }
  if (text === HELP_HEADING) {
    state.listing = [];
    state.listingQuiet = state.quietHelps > 0;
    if (state.listingQuiet) {
      state.quietHelps -= 1;
      return;
    }
  }
  showServerLine(text);
  learn(text);
}

function learn(text) {
  if (SHUTTING_DOWN.test(text)) {
    state.shuttingDown = true;
  }
  if (!state.loggedIn) {
    if (ASKS_PASSWORD.test(text)) {
      showPasswordField();
    }
    const welcome = WELCOME.exec(text);
    if (welcome) {
      loggedIn(welcome[1]);
    } else if (state.loggingIn) {
      state.loggingIn = false;         // the answer to /login, and not a welcome: why not
      state.rejoin = false;
      showLogin(text);
    }
    return;
  }
  const renamed = RENAMED.exec(text);
  if (renamed) {
    state.nickname = renamed[1];
    rememberNickname();
    setWhere();
  }
  if (OPERATOR.test(text)) {
    askForCommands();                  // an operator has more of them
  }
  const entered = ENTERED.exec(text);
  if (entered) {
    state.room = entered[1] || "hall";
    setWhere();
    askForCommands();                  // the new room's commands, for the buttons only
  }
}

function loggedIn(nickname) {
  state.loggingIn = false;
  state.loggedIn = true;
  state.nickname = nickname;
  state.room = "hall";
  rememberNickname();
  setWhere();
  setLoginNote("");
  showTalk();
}

function received(data) {
  const lines = data.split("\r\n");
  if (lines[lines.length - 1] === "") {
    lines.pop();                       // each line ends in CR LF: the last piece is empty
  }
  for (const text of lines) {
    receive(text);
  }
  if (state.listing !== null) {
    setCommands(state.listing);        // the list may go on in the next message
  }
}


/* ---- The connection */

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + CHAT_PATH);
  state.socket = socket;
  state.opened = false;
  state.shuttingDown = false;
  state.leaving = false;
  state.listing = null;
  state.quietHelps = 0;
  setState("connecting");
  // A socket replaced by a Reconnect may still report: only the current one counts.
  socket.addEventListener("open", () => socket === state.socket && opened());
  socket.addEventListener("message", (event) => socket === state.socket && received(event.data));
  socket.addEventListener("close", (event) => socket === state.socket && closed(event.code));
}

function opened() {
  state.opened = true;
  setState("connected");
  if (state.reconnecting) {
    state.reconnecting = false;
    showNote("reconnected");
  }
  if (state.wantsLogin) {
    logIn();
  }
}

function closed(code) {
  state.socket = null;
  state.closeCode = code;
  let reason;
  if (state.shuttingDown || code === 1001) {
    reason = "shuttingDown";
  } else if (!state.opened) {
    reason = "unreachable";
  } else if (state.leaving && code === 1000) {
    reason = "loggedOut";
  } else if (code === 1000 || code === 1008) {
    reason = "closed";             // a login timeout, a kick, a ban: the last line says which
  } else if (code === 1002 || code === 1003 || code === 1007) {
    reason = "protocol";
  } else {
    reason = "lost";               // 1006: no close frame (the network, a slow reader cut)
  }
  state.rejoin = state.loggedIn || state.rejoin;
  state.loggedIn = false;
  state.loggingIn = false;
  state.wantsLogin = false;
  state.room = null;
  setWhere();
  setCommandsEnabled(false);
  state.commands = [];                 // the next list makes them again, enabled
  setState("lost", reason);
  showNote(reason, {code: code});
}

function reconnect() {
  state.reconnecting = true;
  state.wantsLogin = state.rejoin;
  connect();
}

function logIn() {
  state.wantsLogin = false;
  state.loggingIn = true;
  send("/login " + state.nickname + (state.needsPassword ? " " + state.password : ""));
}

function send(text) {
  /* Send one line, as it is; false if there is no connection to send it on. */
  if (state.socket === null || state.socket.readyState !== WebSocket.OPEN) {
    showNote("notConnected");
    scrollToEnd();
    return false;
  }
  state.socket.send(text);
  return true;
}


/* ---- What the user does */

function say(text) {
  /* Send a line the user typed or clicked, show it, and keep it for the up arrow. */
  if (!send(text)) {
    return false;
  }
  const hidden = WITH_PASSWORD.exec(text);
  showLine("> " + (hidden ? hidden[1] + "••••••" : text), "mine");
  scrollToEnd();
  if (/^\s*\/logout(\s|$)/.test(text)) {
    state.leaving = true;
  }
  if (!hidden && state.sent[state.sent.length - 1] !== text) {
    state.sent.push(text);
    if (state.sent.length > MAX_SENT) {
      state.sent.shift();
    }
  }
  state.recall = state.sent.length;
  state.draft = "";
  return true;
}

function sendTyped(event) {
  event.preventDefault();              // form-action 'none': the page sends, not the form
  const text = page.line.value;
  if (text.trim() && say(text)) {
    setLine("");
  }
}

function setLine(text) {
  page.line.value = text;
  page.line.setSelectionRange(text.length, text.length);
  maskLine();
}

function maskLine() {
  /* Dots in the input line while it gives a password: a class may see the screen. */
  page.line.classList.toggle("secret", GIVING_PASSWORD.test(page.line.value));
}

function recallLine(step) {
  /* The up arrow goes back through what was sent, the down arrow forward, as in a shell. */
  const to = state.recall + step;
  if (to < 0 || to > state.sent.length) {
    return false;
  }
  if (state.recall === state.sent.length) {
    state.draft = page.line.value;
  }
  state.recall = to;
  setLine(to === state.sent.length ? state.draft : state.sent[to]);
  return true;
}

function lineKey(event) {
  if (event.isComposing || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
    return;                            // an input method at work, or a shortcut
  }
  const step = {ArrowUp: -1, ArrowDown: 1}[event.key];
  if (step && recallLine(step)) {
    event.preventDefault();
  }
}

function join(event) {
  event.preventDefault();
  const nickname = page.nickname.value.trim();
  if (!nickname) {
    setLoginNote(label("noNickname"));
  } else if (/\s/.test(nickname)) {
    setLoginNote(label("noSpaces"));
  } else if (state.needsPassword && !page.password.value) {
    setLoginNote(label("noPassword"));
  } else {
    state.nickname = nickname;
    state.password = page.password.value;
    setLoginNote("");
    if (state.connection === "connected") {
      logIn();
    } else {
      state.wantsLogin = true;         // as soon as the connection opens
      if (state.connection === "lost") {
        connect();
      }
    }
  }
}

function start() {
  for (const element of document.querySelectorAll("[id]")) {
    page[element.id.replace(/-(\w)/g, (_, letter) => letter.toUpperCase())] = element;
  }
  state.lang = chooseLanguage();
  setLabels();
  page.nickname.value = storedNickname();
  page.login.addEventListener("submit", join);
  page.say.addEventListener("submit", sendTyped);
  page.line.addEventListener("keydown", lineKey);
  page.line.addEventListener("input", maskLine);
  page.reconnect.addEventListener("click", reconnect);
  page.newer.addEventListener("click", scrollToEnd);
  page.log.addEventListener("scroll", followOrNot);
  // A phone's keyboard opening, or the window resized: still show the end if it did.
  new ResizeObserver(() => state.following && scrollToEnd()).observe(page.log);
  connect();
  page.nickname.focus();
}

start();

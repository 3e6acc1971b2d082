/* The chat page: a browser's window onto the chat server.

   How it works:
   1. The page opens a WebSocket to /chat on its own origin and asks for the
      subprotocol "chat.events". From then on every message from the server
      is one JSON object with a `type` (the server's chat/events.py lists
      them). What the page sends is still lines of text, exactly what a
      telnet user would type: "/login ann", "hello", "/kick bob".
   2. The page decides from the objects' fields, never from the wording of a
      line: wording is for people, and anyone can type it. Every object's
      `text` is shown as text (textContent, never HTML), styled by its type.
   3. Where the page is in its life is one value, state.phase:
        connecting  a socket is opening; the server has not spoken yet
        login       connected; the login form waits for the user
        joining     /login (or /resume) sent; its answer has not come
        chatting    logged in: conversation, people, commands
        waiting     the connection dropped: it opens again by itself soon
        ended       closed, and not opened again until the user acts
   4. What the server said about the user and the room is kept as it came:
      state.me (the last `status`), state.room (the last `room`),
      state.commands (the last `commands`). The top bar, the list of people
      and the command buttons are drawn from them, and only from them.
   5. state.login is whom to log in as: set by the login form, kept while
      logged in (nickname, class password, room, resume code), so that a
      dropped connection comes back by itself; forgotten after /logout, a
      kick or a ban, which bring the login form back. Coming back is
      "/resume CODE LASTSEQ" (the code from the last `status`, LASTSEQ the
      highest `seq` shown): the server logs the page in as the session was,
      in its room, operator if it was one, and sends the lines said since,
      each shown once.
   6. A /login or /resume is answered by a `login` notice, or refused by a
      `refused` notice whose `reason` decides what the page does next:
        unknown  the resume code is no good (a server restarted without its
                 database, say): log in afresh, "/login NICK [PASSWORD]",
                 and go back to the room with "/ROOM"
        taken    someone else has the nickname now: the login form, saying so
        wrong    a wrong class password: the login form, at the password
        busy     too many tries from this address (a class behind one address,
                 all coming back at once): the same step again, after a wait
                 that grows with each refusal
      Any other reply to a /login (a nickname not allowed, say; the third
      wrong password's goodbye) brings the login form back with the reply.

   The page's own words are in LABELS, in English and Simplified Chinese,
   chosen by the browser's language; what the server sends is shown as it is. */
"use strict";

const CHAT_PATH = "/chat";
const SUBPROTOCOL = "chat.events";

const CLOSE_GOING_AWAY = 1001;     // the server is shutting down
const CLOSE_POLICY = 1008;         // a kick, a ban, three wrong passwords
const CLOSE_PROTOCOL_ERRORS = [1002, 1003, 1007];

const RETRY_FIRST = 1;             // seconds before the first try to reconnect,
const RETRY_MOST = 30;             // doubled after each failed try, up to this
const RETRY_JITTER = 0.25;         // each wait is up to a quarter shorter or longer, so a
                                   // class's pages do not all come back in the same instant
const BUSY_MOST = 8;               // seconds, at most, before a /login or /resume refused as
                                   // busy is sent again: the server lets an address try
                                   // again a few times a second, so a longer wait is idle

const PASSWORD_GIVEN = /^(\s*\/(?:op|login\s+\S+)\s+)\S.*$/;
/* A line the user typed that gives a password (/op PASSWORD, /login NICK PASSWORD): echoed
   without it, and not kept for the up arrow (a classroom may have a projector). */
const PASSWORD_STARTED = /^\s*\/(?:op|login\s+\S+)\s/;
/* The start of such a line: from there on, the input line shows dots. */

const HIDDEN_COMMANDS = ["login"];
/* Commands never offered as buttons once logged in: they would only say "already". */

const NOTICE_EVENTS = ["enter", "leave", "rename", "login", "logout", "kick", "ban", "mute",
                       "unmute", "muted", "quiet", "operator", "timeout", "refused"];
/* The notices the page styles each in its own way (class "event-NAME"). */

const NICK_COLOURS = 6;
const MAX_LINES = 2000;
/* Lines the conversation keeps; the oldest go first, so a long lesson cannot fill the
   tab's memory. */
const MAX_SENT = 100;
/* Lines the up arrow can recall. */
const MAX_SEEN = 2 * MAX_LINES;
/* The seqs of lines shown that the page remembers, so as not to show one twice. */
const BACK_SHOWN = 3;
/* Seconds the status line says the page is back after a resume. */

const LABELS = {
  en: {
    connecting: "Connecting…",
    connected: "Connected",
    joining: "Logging in…",
    retryIn: "Reconnecting in {seconds} s…",
    reconnect: "Reconnect",
    reconnectNow: "Reconnect now",
    reconnected: "Connected again.",
    back: "Back where you were.",
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
    hall: "the hall",
    people: "People ({count})",
    peopleIn: "In {room} ({count})",
    close: "Close",
    you: "you",
    operator: "operator",
    muted: "muted",
    quiet: "quiet",
    actionsFor: "What to do with {nick}",
    privately: "Message",
    mute: "Mute",
    unmute: "Unmute",
    kick: "Kick…",
    ban: "Ban…",
    askKick: "Kick {nick} out of the chat?",
    askBan: "Ban {nick}? Every connection from their address is closed and kept out.",
    yesKick: "Kick",
    yesBan: "Ban",
    cancel: "Cancel",
    shuttingDown: "The server is shutting down.",
    lost: "Connection lost.",
    unreachable: "Cannot reach the server.",
    kicked: "You were kicked out.",
    banned: "You are banned.",
    refused: "The server closed the connection.",
    timedOut: "Closed: no login in time. Log in to connect again.",
    protocol: "Connection closed: protocol error {code}.",
    noEvents: "This server does not send the page's events: it cannot be used here.",
    notConnected: "Not connected yet: what you typed stays in the line.",
    noNickname: "Please choose a nickname.",
    noSpaces: "A nickname has no spaces.",
    noPassword: "Please enter the class password.",
    busy: "Many are logging in at once: trying again in {seconds} s…",
    nickTaken: "Someone else has taken the nickname {nick} meanwhile: choose another.",
    wrongPassword: "Wrong password: please enter the class password again.",
  },
  zh: {
    connecting: "正在连接…",
    connected: "已连接",
    joining: "正在登录…",
    retryIn: "{seconds} 秒后重新连接…",
    reconnect: "重新连接",
    reconnectNow: "立即重新连接",
    reconnected: "已重新连接。",
    back: "已回到原来的地方。",
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
    people: "成员（{count}）",
    peopleIn: "{room}（{count} 人）",
    close: "关闭",
    you: "你",
    operator: "管理员",
    muted: "已禁言",
    quiet: "安静模式",
    actionsFor: "对 {nick} 的操作",
    privately: "私信",
    mute: "禁言",
    unmute: "解除禁言",
    kick: "踢出…",
    ban: "封禁…",
    askKick: "把 {nick} 踢出聊天？",
    askBan: "封禁 {nick}？来自同一地址的连接都会被断开，并且不能再进来。",
    yesKick: "踢出",
    yesBan: "封禁",
    cancel: "取消",
    shuttingDown: "已断开：服务器正在关闭。",
    lost: "已断开：连接中断。",
    unreachable: "无法连接到服务器。",
    kicked: "你已被踢出。",
    banned: "你已被封禁。",
    refused: "服务器关闭了连接。",
    timedOut: "已断开：没有及时登录。登录即可重新连接。",
    protocol: "已断开：协议错误（{code}）。",
    noEvents: "这个服务器不发送页面所需的事件，无法在这里使用。",
    notConnected: "尚未连接：输入的内容会保留在输入框里。",
    noNickname: "请输入昵称。",
    noSpaces: "昵称里不能有空格。",
    noPassword: "请输入班级密码。",
    busy: "同时登录的人很多：{seconds} 秒后再试…",
    nickTaken: "昵称 {nick} 已被别人使用，请换一个。",
    wrongPassword: "密码错误，请重新输入班级密码。",
  },
};

const NOBODY = {nick: null, room: null, operator: false, muted: false, resume: null};

const state = {
  lang: "en",              // "en" or "zh": the page's own words
  phase: "connecting",     // see the top of this file
  socket: null,            // the WebSocket of this phase, or null
  reason: "",              // waiting or ended: why, a key of LABELS; joining: "busy"
                           // while it waits to try again
  closeCode: null,         // the code of the last close
  retries: 0,              // tries to reconnect since the server last answered
  retryAt: 0,              // waiting, or joining when busy: when the next try starts
                           // (Date.now() time)
  timers: [],              // the timeouts that will try again and count down
  login: null,             // whom to log in as: {nick, password, room, resume, returnTo}
  attempt: "",             // joining: "login" or "resume", the command that was sent
  busyTries: 0,            // refusals as busy since this connection last logged in
  farewell: "",            // the notice that ended this session: "logout", "kick", ...
  passwordAsked: false,    // the server's status said the class has a password
  me: NOBODY,              // the last `status`: nick, room, operator, muted, resume
  room: null,              // the last `room`: {name, quiet, members: [{nick, operator, muted}]}
  commands: [],            // the last `commands`: [{name, usage, help}]
  lastSeq: 0,              // the highest seq shown since this login: /resume asks from there
  seen: new Map(),         // seq -> how many times a line with it was shown, since this login
  catchingUp: false,       // resumed, and the lines missed are coming: until the next status
  back: false,             // resumed a moment ago: the status line says so (BACK_SHOWN)
  backTimer: null,         // the timeout that ends saying so
  openPerson: null,        // the nickname whose actions are open in the list of people
  confirmed: null,         // the action the confirmation dialog is asking about
  repeat: null,            // the last reply shown, to count repeats: {key, element, count}
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
    text = text.replace("{" + name + "}", () => values[name]);   // a "$&" in a nickname stays
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

function roomName(name) {
  return name === "hall" ? label("hall") : name;
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
  /* The user scrolled: back to the end, follow it again; up, stop following. A scroll
     the page made, then a change of layout before this event came, is neither. */
  const top = page.log.scrollTop;
  if (atEnd()) {
    state.following = true;
    page.newer.hidden = true;
  } else if (top < state.scrollTop) {
    state.following = false;
  }
  state.scrollTop = top;
}

function addToLog(element, mine) {
  /* Follow the newest line if the user is at the end; if they scrolled up to read,
     leave them there and say that there is more below. */
  page.log.append(element);
  while (page.log.childElementCount > MAX_LINES) {
    page.log.firstElementChild.remove();
  }
  if (!mine) {
    state.repeat = null;               // a repeat must come straight after, but for the
  }                                    // user's own lines, which may be what caused it
  newLineShown();
}

function newLineShown() {
  if (state.following) {
    scrollToEnd();
  } else {
    page.newer.hidden = false;
  }
}

function make(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) {
    element.textContent = text;
  }
  return element;
}

function showLine(text, kind) {
  /* A line as it is, plain text; kind is its class: "mine", "note", "shutdown". */
  addToLog(make("p", "line " + kind, text), kind === "mine");
}

function showNote(key, values) {
  showLine(label(key, values), "note");
}

function showRepeatable(text, kind, key) {
  /* A reply the server may send again and again (a muted user's "You are muted" for
     each line tried): the same one again, with nothing between but what the user sent,
     is counted on one line, moved to the end. */
  const last = state.repeat;
  if (last !== null && last.key === key && last.element.isConnected) {
    last.count += 1;
    last.counter.textContent = "×" + last.count;
    last.counter.hidden = false;
    addToLog(last.element, true);
    return;
  }
  const line = make("p", "line " + kind);
  const counter = make("span", "count");
  counter.hidden = true;
  line.append(make("span", "text", text), counter);
  addToLog(line);
  state.repeat = {key: key, element: line, counter: counter, count: 1};
}

function nickColour(nickname) {
  /* The same colour for a nickname every time (its FNV-1a hash). */
  let hash = 0x811c9dc5;
  for (const character of nickname || "") {
    hash = Math.imul(hash ^ character.codePointAt(0), 0x01000193) >>> 0;
  }
  return "nick-" + (hash % NICK_COLOURS);
}

function ownNick() {
  /* The user's nickname: the last status's, or while coming back, the one it had. */
  return state.me.nick !== null || state.login === null ? state.me.nick : state.login.nick;
}

function firstShowing(said) {
  /* Whether a line said is one to show: not if a line with its seq was shown already
     (a resume's lines overlapping what came before), and not, while a resume's lines
     come, one the user said (the page showed it as it sent it: "> hello"). A message
     to oneself comes twice with one seq, as the copy and as the confirmation; a line
     /history shows again is shown again. */
  if (said.replay === true || typeof said.seq !== "number") {
    return true;
  }
  state.lastSeq = Math.max(state.lastSeq, said.seq);
  const times = state.seen.get(said.seq) || 0;
  const most = said.type === "private" && said.from === said.to ? 2 : 1;
  if (times >= most) {
    return false;
  }
  state.seen.set(said.seq, times + 1);
  while (state.seen.size > MAX_SEEN) {
    state.seen.delete(state.seen.keys().next().value);   // the oldest seen first
  }
  return !(state.catchingUp && (said.type === "say" || said.type === "me") &&
           said.from === ownNick());
}

function showSaid(said) {
  /* say, me, announce, private: `text` is the line as telnet shows it, and ends with
     `body`, what the user typed. What comes before the body ("alice: ", "* alice ",
     "[private] alice: ") is set apart in the speaker's colour, cut by length only. */
  if (!firstShowing(said)) {
    return;
  }
  const text = String(said.text);
  const body = String(said.body || "");
  const cut = Math.max(0, text.length - body.length);
  const line = make("p", "line said type-" + said.type);
  line.classList.toggle("replay", said.replay === true);
  line.classList.toggle("own", said.from === ownNick());
  line.append(make("span", "who " + nickColour(said.from), text.slice(0, cut)),
              make("span", "body", text.slice(cut)));
  if (typeof said.time === "number") {
    line.title = new Date(said.time * 1000).toLocaleString();
  }
  addToLog(line);
}

function showNotice(notice) {
  let kind = "notice";
  if (NOTICE_EVENTS.includes(notice.event)) {
    kind += " event-" + notice.event;
  }
  if (notice.nick !== undefined && notice.nick === state.me.nick) {
    kind += " about-me";
  }
  showRepeatable(String(notice.text), kind, "notice\n" + notice.event + "\n" + notice.text);
}

function showReply(reply) {
  showRepeatable(String(reply.text), "reply", "line\n" + reply.text);
}


/* ---- The top bar: the user, the room, the connection */

function showMe() {
  /* The user's nickname, room and marks, from the last status. While the page logs in
     again, the nickname and room it had (greyed by the stylesheet), with no marks. */
  let me = state.me;
  if (me.nick === null && state.login !== null && state.login.room !== null) {
    me = {nick: state.login.nick, room: state.login.room, operator: false, muted: false};
  }
  page.self.hidden = me.nick === null;
  page.selfNick.textContent = me.nick || "";
  page.selfRoom.textContent = me.room === null ? "" : roomName(me.room);
  page.selfOperator.hidden = !me.operator;
  page.selfMuted.hidden = !me.muted;
  document.title = me.nick === null ? "chat" : "chat: " + me.nick + " · " + roomName(me.room);
}

function showStatus() {
  /* The status line says the phase, and why when it is waiting or ended. */
  const phase = state.phase;
  let text;
  const seconds = Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000));
  if (phase === "waiting") {
    text = label(state.reason) + " " + label("retryIn", {seconds: seconds});
  } else if (phase === "joining" && state.reason === "busy") {
    text = label("busy", {seconds: seconds});
  } else if (phase === "ended") {
    text = label(state.reason, {code: state.closeCode});
  } else if (phase === "chatting" && state.back) {
    text = label("back");
  } else {
    text = label({connecting: "connecting", joining: "joining"}[phase] || "connected");
  }
  page.statusText.textContent = text;
  page.status.className = "status " + phase +
    (phase === "login" || phase === "joining" || phase === "chatting" ? " connected" : "");
  page.reconnect.hidden = phase !== "waiting" && phase !== "ended";
  page.reconnect.textContent = label(phase === "waiting" ? "reconnectNow" : "reconnect");
}

function setPhase(phase, reason) {
  state.phase = phase;
  state.reason = reason || "";
  if (phase !== "chatting") {
    showBack(false);                   // back no longer
  }
  document.body.dataset.phase = phase;
  showStatus();
  showView();
  setButtonsEnabled(phase === "chatting");
}

function showView() {
  /* The login form until the user has logged in; after that the conversation's input
     line, kept through a reconnect, so that what the user was typing stays. */
  const talking = state.phase !== "login" && state.login !== null && state.login.room !== null;
  const wasTalking = !page.talk.hidden;
  page.login.hidden = talking;
  page.talk.hidden = !talking;
  page.people.hidden = !talking || state.room === null;
  page.peopleToggle.hidden = page.people.hidden;
  if (talking && !wasTalking) {
    page.line.focus();
  } else if (!talking && wasTalking) {
    page.nickname.focus();
  }
}

function setButtonsEnabled(enabled) {
  for (const button of document.querySelectorAll("#commands button, #people-list button")) {
    button.disabled = !enabled;
  }
}

function focusLine() {
  /* After a button, the keyboard is back where the user types. */
  if (!page.talk.hidden) {
    page.line.focus();
  }
}


/* ---- The room's people */

function showPeople() {
  const room = state.room;
  showView();
  if (room === null) {
    page.peopleList.replaceChildren();
    return;
  }
  const count = room.members.length;
  page.peopleTitle.textContent = label("peopleIn", {room: roomName(room.name), count: count});
  page.peopleToggle.textContent = label("people", {count: count});
  page.peopleQuiet.hidden = !room.quiet;
  page.peopleList.replaceChildren(...room.members.map(personItem));
  setButtonsEnabled(state.phase === "chatting");
}

function personItem(member) {
  /* A member's name, marked operator (and, for an operator, muted); a click on it opens
     what the user can do with that member. */
  const item = make("li", "person");
  item.dataset.nick = member.nick;
  const isMe = member.nick === (state.login === null ? state.me.nick : state.login.nick);
  const name = make(isMe ? "span" : "button", "person-name");
  name.append(make("span", "nick " + nickColour(member.nick), member.nick));
  if (isMe) {
    name.append(make("span", "mark you", label("you")));
  } else {
    name.type = "button";
    name.setAttribute("aria-expanded", String(state.openPerson === member.nick));
    name.addEventListener("click", () => togglePerson(member.nick));
  }
  if (member.operator) {
    name.append(make("span", "mark operator", label("operator")));
  }
  if (member.muted === true) {
    name.append(make("span", "mark muted", label("muted")));
  }
  item.append(name);
  if (!isMe && state.openPerson === member.nick) {
    item.append(personActions(member));
  }
  return item;
}

function personActions(member) {
  /* /msg for everyone; for an operator, and a member who is none, mute or unmute, kick
     and ban. Each sends the nickname exactly as the room event gave it. */
  const nick = member.nick;
  const actions = make("div", "actions");
  actions.setAttribute("role", "group");
  actions.setAttribute("aria-label", label("actionsFor", {nick: nick}));
  actions.append(actionButton("privately", "msg", () => startLine("/msg " + nick + " ")));
  if (state.me.operator && !member.operator) {
    const mute = member.muted === true ? "unmute" : "mute";
    actions.append(actionButton(mute, mute, () => run("/" + mute + " " + nick)));
    actions.append(actionButton("kick", "kick", () =>
      askFirst(label("askKick", {nick: nick}), "yesKick", () => run("/kick " + nick))));
    actions.append(actionButton("ban", "ban", () =>
      askFirst(label("askBan", {nick: nick}), "yesBan", () => run("/ban " + nick))));
  }
  return actions;
}

function actionButton(key, action, act) {
  const button = make("button", "action action-" + action, label(key));
  button.type = "button";
  button.dataset.action = action;
  button.addEventListener("click", () => {
    state.openPerson = null;           // done with this member: the list as it was
    showPeople();
    closePanels();
    act();
  });
  return button;
}

function togglePerson(nick) {
  state.openPerson = state.openPerson === nick ? null : nick;
  showPeople();
}

function askFirst(question, yesKey, act) {
  /* The page's own small dialog: a kick or a ban is not undone by a second click. */
  state.confirmed = act;
  page.confirmText.textContent = question;
  page.confirmYes.textContent = label(yesKey);
  page.confirm.showModal();
  page.confirmNo.focus();
}

function answerConfirm(yes) {
  const act = state.confirmed;
  state.confirmed = null;
  page.confirm.close();
  if (yes && act) {
    act();
  }
  focusLine();
}


/* ---- The room's commands, as buttons */

function takesArgument(command) {
  /* The usage is the name alone ("online") or the name and what follows it
     ("msg <nickname> <text>"). */
  return command.usage !== command.name;
}

function showCommands() {
  const buttons = [];
  for (const command of state.commands) {
    if (HIDDEN_COMMANDS.includes(command.name) || (command.name === "op" && state.me.operator)) {
      continue;                        // an operator is one already
    }
    const button = make("button", "command" + (takesArgument(command) ? " takes-argument" : ""),
                        "/" + command.name);
    button.type = "button";
    button.title = "/" + command.usage + (command.help ? ": " + command.help : "");
    button.addEventListener("click", () => clickCommand(command));
    buttons.push(button);
  }
  page.commands.replaceChildren(...buttons);
  setButtonsEnabled(state.phase === "chatting");
}

function clickCommand(command) {
  /* A command that needs more is started in the input line; the rest run. */
  closePanels();
  if (takesArgument(command)) {
    startLine("/" + command.name + " ");
  } else {
    run("/" + command.name);
  }
}

function startLine(text) {
  setLine(text);
  page.line.focus();
}

function run(text) {
  say(text);
  focusLine();
}


/* ---- The panels a phone opens: the commands, the people */

function togglePanel(panel, toggle) {
  const open = !panel.classList.contains("open");
  closePanels();
  panel.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
}

function closePanels() {
  for (const [panel, toggle] of [[page.commands, page.commandsToggle],
                                 [page.people, page.peopleToggle]]) {
    panel.classList.remove("open");
    toggle.setAttribute("aria-expanded", "false");
  }
}


/* ---- What the server says: one object a message */

const RECEIVE = {
  say: showSaid,
  me: showSaid,
  announce: showSaid,
  private: showSaid,
  notice: receiveNotice,
  line: receiveLine,
  status: receiveStatus,
  room: receiveRoom,
  commands: receiveCommands,
  shutdown: receiveShutdown,
};

function receive(data) {
  let event;
  try {
    event = JSON.parse(data);
  } catch (error) {
    return;                            // not an object of the protocol: nothing to show
  }
  if (event === null || typeof event !== "object") {
    return;
  }
  const handle = RECEIVE[event.type];
  if (handle) {
    handle(event);
  } else if (typeof event.text === "string") {
    showReply(event);                  // a type this page does not know: its text, as a reply
  }
}

function receiveStatus(status) {
  /* The user's own state. Before login (nick null) it also says whether the class
     has a password: then the page can log in. */
  state.me = {
    nick: status.nick === undefined ? null : status.nick,
    room: status.room === undefined ? null : status.room,
    operator: status.operator === true,
    muted: status.muted === true,
    resume: typeof status.resume === "string" ? status.resume : null,
  };
  state.retries = 0;                   // the server is there and answering
  state.catchingUp = false;            // a resume's missed lines come before its status
  if (state.me.nick === null) {
    state.passwordAsked = status.password === true;
    page.passwordField.hidden = !state.passwordAsked;
    if (state.phase === "connecting") {
      welcomed();
    }
  } else if (state.login !== null) {
    goBack();
    state.login.nick = state.me.nick;              // after a /nick too
    state.login.room = state.me.room;
    state.login.resume = state.me.resume;          // a server without resume codes: null
  }
  showMe();
  showCommands();                      // /op goes once the user is an operator
  showPeople();                        // an operator's actions come and go with it
}

function receiveRoom(room) {
  state.room = {
    name: room.name,
    quiet: room.quiet === true,
    members: Array.isArray(room.members) ? room.members : [],
  };
  if (!state.room.members.some((member) => member.nick === state.openPerson)) {
    state.openPerson = null;
  }
  showPeople();
}

function receiveCommands(commands) {
  state.commands = Array.isArray(commands.commands) ? commands.commands : [];
  showCommands();
}

function receiveNotice(notice) {
  showNotice(notice);
  const aboutMe = notice.nick === undefined || notice.nick === state.me.nick;
  if (notice.event === "login" && answered()) {
    loggedIn();                        // the answer to /login or /resume
  } else if (notice.event === "refused" && state.phase === "joining") {
    refusedBecause(notice);            // the answer to /login or /resume too
  } else if (notice.event === "logout" || notice.event === "timeout") {
    state.farewell = notice.event;
  } else if ((notice.event === "kick" || notice.event === "ban") && aboutMe &&
             notice.by !== undefined) {
    state.farewell = notice.event;     // to the one put out; the operator's copy has no `by`
  }
}

function receiveLine(reply) {
  /* A reply. While joining, a reply is the answer to the /login or the /resume, which
     neither took (a `login` notice) nor refused for a reason the page knows (a
     `refused` notice): a nickname not allowed, say, or the third wrong password's
     goodbye. The login form again, with the reply. */
  showReply(reply);
  if (state.phase === "joining") {
    refused(String(reply.text), page.nickname);
  }
}

function receiveShutdown(shutdown) {
  showLine(String(shutdown.text), "shutdown");
  state.farewell = "shutdown";
}


/* ---- Logging in, and in again */

function welcomed() {
  /* The server's welcome has come: log in, by the form or by what the page holds. */
  if (state.login === null) {
    setPhase("login");
  } else if (state.login.resume) {
    sendResume();
  } else {
    sendLogin();
  }
}

function sendResume() {
  /* A later server gives a resume code in `status`: with it the page comes back as the
     session it was, in its room, with the lines it missed (those above lastSeq). */
  sendAttempt("resume", "/resume " + state.login.resume + " " + state.lastSeq);
}

function sendLogin() {
  const password = state.passwordAsked ? " " + state.login.password : "";
  sendAttempt("login", "/login " + state.login.nick + password);
}

function sendAttempt(attempt, line) {
  stopTimers();                        // a try again after busy is this try
  state.attempt = attempt;
  send(line);
  setPhase("joining");
}

function refusedBecause(notice) {
  /* The server refused the /login or the /resume, and said why. */
  const reason = notice.reason;
  if (reason === "busy") {
    tryAgainLater();
  } else if (reason === "unknown" && state.attempt === "resume") {
    state.login.resume = null;         // the code is no good: log in afresh, and back
    sendLogin();                       // to the room (loggedIn, goBack)
  } else if (reason === "taken") {
    refused(label("nickTaken", {nick: state.login.nick}), page.nickname);
  } else if (reason === "wrong") {
    page.password.value = "";          // no try left: the server's goodbye, and a close
    refused(notice.left === 0 ? String(notice.text) : label("wrongPassword"), page.password);
  } else {
    refused(String(notice.text), page.nickname);
  }
}

function tryAgainLater() {
  /* Too many tries from this address, or from all of them: the same /login or /resume
     again after about 1, 2, 4, ... up to BUSY_MOST seconds. Every page of a class behind
     one address gets in, a few a second, none of them giving up or logging in afresh. */
  const seconds = backOff(state.busyTries, BUSY_MOST);
  const again = state.attempt === "resume" ? sendResume : sendLogin;
  state.busyTries += 1;
  state.retryAt = Date.now() + seconds * 1000;
  stopTimers();
  state.timers.push(setTimeout(again, seconds * 1000),
                    setInterval(showStatus, 1000));
  setPhase("joining", "busy");
}

function answered() {
  /* Whether the page is waiting for the answer to its /login or /resume. After a refusal
     (the login form again) a welcome may still come: the reply taken for a refusal may
     have been a line of the server's welcome, sent before the answer. */
  return state.phase === "joining" || (state.phase === "login" && state.login !== null);
}

function loggedIn() {
  /* Logged in: the conversation, and after a reconnect, the room the user was in: a
     resume is put back in it by the server, with the lines it missed before the next
     status; a login goes back to it itself (goBack). */
  const login = state.login;
  if (login.room !== null) {
    showNote("reconnected");
    if (state.attempt === "login" && login.room !== "hall") {
      login.returnTo = login.room;     // the next status says where the user is now
    }
  }
  if (state.attempt === "login") {
    state.lastSeq = 0;                 // a new session: seq may have started again
    state.seen.clear();
  }
  login.room = login.room || "hall";   // logged in: the conversation shows (showView)
  setPhase("chatting");
  if (state.attempt === "resume") {
    state.catchingUp = true;
    showBack(true);
  }
  state.busyTries = 0;
  page.loginNote.textContent = "";
  rememberNickname(login.nick);
}

function showBack(back) {
  /* After a resume, the status line says for a moment that the user is back. */
  clearTimeout(state.backTimer);
  state.backTimer = back ? setTimeout(() => showBack(false), BACK_SHOWN * 1000) : null;
  if (state.back !== back) {
    state.back = back;
    showStatus();
  }
}

function goBack() {
  /* After a /login that reconnected, go back to the room the user was in. */
  const room = state.login.returnTo;
  state.login.returnTo = null;
  if (room && state.me.room !== room) {
    send("/" + room);
  }
}

function refused(why, field) {
  /* The /login or /resume was refused: the form again, with the nickname in it, saying
     why, and the keyboard in field, the one to change. */
  page.nickname.value = state.login.nick;
  setPhase("login");
  page.loginNote.textContent = why;
  field.focus();
}

function join(event) {
  /* The login form: log in on this connection, or on a new one if it has none. */
  event.preventDefault();
  const nickname = page.nickname.value.trim();
  const password = page.password.value;
  let problem = "";
  if (!nickname) {
    problem = "noNickname";
  } else if (/\s/.test(nickname)) {
    problem = "noSpaces";
  } else if (state.passwordAsked && !password) {
    problem = "noPassword";
  }
  page.loginNote.textContent = problem ? label(problem) : "";
  if (problem || state.phase === "joining") {
    return;
  }
  state.login = {nick: nickname, password: password, room: null, resume: null,
                 returnTo: null};
  if (state.phase === "login") {
    sendLogin();
  } else if (state.phase === "waiting" || state.phase === "ended") {
    connect();                         // it logs in once the server has welcomed it
  }
}

function rememberNickname(nickname) {
  try {
    localStorage.setItem("chat.nickname", nickname);
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


/* ---- The connection */

function connect() {
  stopTimers();
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + CHAT_PATH, SUBPROTOCOL);
  state.socket = socket;
  state.farewell = "";
  state.busyTries = 0;
  state.me = NOBODY;
  setPhase("connecting");
  // A socket replaced by a Reconnect may still report: only the current one counts.
  socket.addEventListener("open", () => socket === state.socket && opened());
  socket.addEventListener("message", (event) => socket === state.socket && receive(event.data));
  socket.addEventListener("close", (event) => socket === state.socket && closed(event.code));
}

function opened() {
  if (state.socket.protocol !== SUBPROTOCOL) {
    const socket = state.socket;
    state.socket = null;
    socket.close();
    end("noEvents");
  }
  // Otherwise the server speaks first: its `status` (receiveStatus) moves the phase on.
}

function closed(code) {
  /* Why it closed decides what comes next: the login form again, a wait and a new try,
     or nothing until the user acts. */
  const farewell = state.farewell;
  const phase = state.phase;
  stopTimers();                        // a try again after busy has no connection now
  state.socket = null;
  state.closeCode = code;
  state.me = NOBODY;
  showMe();
  if (farewell === "logout") {
    forget();
    connect();                         // a fresh connection, for the next login
  } else if (farewell === "kick" || farewell === "ban" || code === CLOSE_POLICY) {
    forget();
    end({kick: "kicked", ban: "banned"}[farewell] || "refused");
  } else if (farewell === "timeout") {
    end("timedOut");
  } else if (CLOSE_PROTOCOL_ERRORS.includes(code)) {
    end("protocol");
  } else if (farewell === "shutdown" || code === CLOSE_GOING_AWAY) {
    waitToReconnect("shuttingDown");
  } else {
    waitToReconnect(phase === "connecting" ? "unreachable" : "lost");
  }
}

function forget() {
  /* Logged out, kicked or banned: the page comes back as nobody, to the login form. */
  if (state.login !== null) {
    page.nickname.value = state.login.nick;
  }
  state.login = null;
  state.room = null;
  state.commands = [];
  state.openPerson = null;
  closePanels();
  showCommands();
  showPeople();
}

function end(reason) {
  setPhase("ended", reason);
  if (state.login === null) {
    page.nickname.focus();
  }
}

function backOff(tries, most) {
  /* Seconds to wait after tries failed tries: 1, 2, 4, ... up to most, each a little
     more or less. */
  const base = Math.min(most, RETRY_FIRST * 2 ** tries);
  return base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * Math.random());
}

function waitToReconnect(reason) {
  /* Try again after 1, 2, 4, ... up to 30 seconds, each a little more or less. */
  const seconds = backOff(state.retries, RETRY_MOST);
  state.retries += 1;
  state.retryAt = Date.now() + seconds * 1000;
  stopTimers();
  state.timers.push(setTimeout(connect, seconds * 1000),
                    setInterval(showStatus, 1000));
  setPhase("waiting", reason);
}

function stopTimers() {
  for (const timer of state.timers) {
    clearTimeout(timer);               // clears an interval as well
  }
  state.timers = [];
}

function reconnectNow() {
  connect();
}

function send(text) {
  /* Send one line, as it is; false if there is no connection to send it on. */
  if (state.socket === null || state.socket.readyState !== WebSocket.OPEN) {
    return false;
  }
  state.socket.send(text);
  return true;
}


/* ---- What the user does */

function say(text) {
  /* Send a line the user typed or clicked, show it, and keep it for the up arrow. */
  if (state.phase !== "chatting" || !send(text)) {
    showNote("notConnected");
    scrollToEnd();
    return false;
  }
  const hidden = PASSWORD_GIVEN.exec(text);
  showLine("> " + (hidden ? hidden[1] + "••••••" : text), "mine");
  scrollToEnd();
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
  page.line.classList.toggle("secret", PASSWORD_STARTED.test(page.line.value));
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
  page.reconnect.addEventListener("click", reconnectNow);
  page.newer.addEventListener("click", scrollToEnd);
  page.log.addEventListener("scroll", followOrNot);
  page.commandsToggle.addEventListener("click",
                                       () => togglePanel(page.commands, page.commandsToggle));
  page.peopleToggle.addEventListener("click",
                                     () => togglePanel(page.people, page.peopleToggle));
  page.peopleClose.addEventListener("click", () => {
    closePanels();
    focusLine();
  });
  page.confirmYes.addEventListener("click", () => answerConfirm(true));
  page.confirmNo.addEventListener("click", () => answerConfirm(false));
  page.confirm.addEventListener("cancel", (event) => {
    event.preventDefault();            // Escape: the same as Cancel
    answerConfirm(false);
  });
  // A phone's keyboard opening, or the window resized: still show the end if it did.
  new ResizeObserver(() => state.following && scrollToEnd()).observe(page.log);
  connect();
  page.nickname.focus();
}

start();

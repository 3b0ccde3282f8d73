// The credential and the chosen WebSocket URL, kept for this tab only (sessionStorage):
// closing the tab signs out, and no other site or tab can read them.
const KEY = "horizon.key";
const WS = "horizon.ws";
const CODE_SESSION = "horizon.codeSession";

export const getKey = () => sessionStorage.getItem(KEY);
export const getChosenWs = () => sessionStorage.getItem(WS);
export const getCodeSession = () => sessionStorage.getItem(CODE_SESSION);
export const setCodeSession = (id) => sessionStorage.setItem(CODE_SESSION, id);

export function signIn(key, wsUrl) {
  sessionStorage.setItem(KEY, key);
  if (wsUrl) sessionStorage.setItem(WS, wsUrl);
  else sessionStorage.removeItem(WS);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WS);
}

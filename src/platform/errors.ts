/** An error a user can cause, with the HTTP status and stable code it answers with. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The JSON body of every HTTP error: `{ "code": "STABLE_CODE", "message": "…" }`. */
export const errorBody = (code: string, message: string) => ({ code, message });

/**
 * TOTP codes for tests, computed with otplib from the secret enrolTotp returned. The server
 * accepts the step before, the current one and the one after, and each step once: `next` hands
 * out codes for ever later steps within that window (it never waits).
 */
import { generate } from "otplib";

const PERIOD = 30;

export const currentStep = (): number => Math.floor(Date.now() / 1000 / PERIOD);

export async function codeForStep(secret: string, step: number): Promise<string> {
  return generate({ secret, epoch: step * PERIOD });
}

/** Codes for one secret, each for a later step than the last. */
export class TotpDevice {
  private lastStep = -1;
  readonly secret: string;
  constructor(secret: string) {
    this.secret = secret;
  }

  /** A code the server has not seen (the earliest step still accepted and not yet used). */
  async next(): Promise<string> {
    const step = Math.max(this.lastStep + 1, currentStep() - 1);
    if (step > currentStep() + 1) throw new Error("no unused TOTP step left in the window");
    this.lastStep = step;
    return codeForStep(this.secret, step);
  }

  /** The code of the last step handed out (already used). */
  async last(): Promise<string> {
    return codeForStep(this.secret, this.lastStep);
  }
}

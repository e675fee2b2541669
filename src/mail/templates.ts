/** The e-mails the service sends, one function per template: data in, message out. */

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

function withLink(
  to: string,
  subject: string,
  intro: string,
  action: string,
  link: string,
  outro: string,
): MailMessage {
  return {
    to,
    subject,
    text: `${intro}\n\n${action}:\n${link}\n\n${outro}\n`,
    html:
      `<p>${escapeHtml(intro)}</p>` +
      `<p><a href="${escapeHtml(link)}">${escapeHtml(action)}</a></p>` +
      `<p>${escapeHtml(outro)}</p>`,
  };
}

export function verifyEmail(p: { to: string; name: string; link: string }): MailMessage {
  return withLink(
    p.to,
    "Verify your e-mail address",
    `Hi ${p.name}, please confirm that this is your e-mail address for MKing Friend.`,
    "Verify my address",
    p.link,
    "The link works once and expires in 48 hours. If you did not sign up, ignore this message.",
  );
}

export function passwordReset(p: { to: string; name: string; link: string }): MailMessage {
  return withLink(
    p.to,
    "Reset your password",
    `Hi ${p.name}, someone (hopefully you) asked to reset your MKing Friend password.`,
    "Choose a new password",
    p.link,
    "The link works once and expires in 1 hour. If you did not ask for it, ignore this message: your password stays as it is.",
  );
}

export function dataExportReady(p: {
  to: string;
  name: string;
  link: string;
  expiresAt: Date;
}): MailMessage {
  return withLink(
    p.to,
    "Your data export is ready",
    `Hi ${p.name}, the archive of your MKing Friend data you asked for is ready.`,
    "Download my data",
    p.link,
    `The link works once, only while you are signed in as yourself, until ${p.expiresAt.toISOString()} (UTC); then the archive is deleted. If you did not ask for it, change your password.`,
  );
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 20 item 3: what the pages for people say about who asks and for whom. A tenant gets a
 * display name and an optional logo URL (set by its admin, validated before it is stored); a
 * connection keeps the e-mail the provider reported at connect time next to the account id it
 * already kept; a connect session keeps the name the app gave for the user the link is for.
 * None of these is a secret: plain columns.
 */
export class TenantProfile1763800002000 implements MigrationInterface {
  name = 'TenantProfile1763800002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE tenants ADD COLUMN display_name text, ADD COLUMN logo_url text, ADD COLUMN profile_updated_at timestamptz;
      ALTER TABLE tenants ADD CONSTRAINT tenants_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 100);
      ALTER TABLE tenants ADD CONSTRAINT tenants_logo_url_https CHECK (logo_url LIKE 'https://%' AND char_length(logo_url) <= 2048);
      ALTER TABLE connections ADD COLUMN provider_account_email text;
      ALTER TABLE connect_sessions ADD COLUMN user_display_name text;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE connect_sessions DROP COLUMN user_display_name;
      ALTER TABLE connections DROP COLUMN provider_account_email;
      ALTER TABLE tenants DROP CONSTRAINT tenants_logo_url_https, DROP CONSTRAINT tenants_display_name_length;
      ALTER TABLE tenants DROP COLUMN profile_updated_at, DROP COLUMN logo_url, DROP COLUMN display_name;
    `);
  }
}

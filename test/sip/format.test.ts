import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { identifyFormat, identifyFile } from '../../src/sip/index.ts';
import { writeZip, noise } from '../fixtures/archives.ts';
import { tempDir } from '../helpers/tmp.ts';

const puid = (bytes: Buffer | string) => identifyFormat(Buffer.from(bytes))?.puid;

test('PDF versions', () => {
  assert.equal(puid('%PDF-1.4\n%âãÏÓ\n'), 'fmt/18');
  assert.equal(puid('%PDF-1.7\n'), 'fmt/276');
  assert.equal(puid('%PDF-2.0\n'), 'fmt/1129');
  assert.equal(identifyFormat(Buffer.from('%PDF-1.7'))?.mimeType, 'application/pdf');
});

test('images', () => {
  assert.equal(puid(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), 'fmt/11');
  const jfif = (minor: number) => Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, minor, 0]);
  assert.equal(puid(jfif(1)), 'fmt/43');
  assert.equal(puid(jfif(2)), 'fmt/44');
  assert.equal(puid(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0, 16, 0x45, 0x78, 0x69, 0x66, 0, 0])), 'fmt/645');
  assert.equal(puid('GIF87a\x01\x00'), 'fmt/3');
  assert.equal(puid('GIF89a\x01\x00'), 'fmt/4');
  assert.equal(puid(Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0])), 'fmt/353');
  assert.equal(puid(Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8])), 'fmt/353');
});

test('text and XML', () => {
  assert.equal(puid('<?xml version="1.0"?><a/>'), 'fmt/101');
  assert.equal(puid('\uFEFF<?xml version="1.0"?><a/>'), 'fmt/101');
  assert.equal(puid('Bonjour, été !\r\n\tligne 2\n'), 'x-fmt/111');
  assert.equal(puid(noise(512, 9)), undefined);
  assert.equal(puid(''), undefined);
});

test('zip, ODF and OOXML, from real archives', async () => {
  const tmp = tempDir('coffre-fmt-');
  try {
    const cases: Array<[string, Array<{ name: string; data: string; store?: boolean }>, string]> = [
      ['odt', [{ name: 'mimetype', data: 'application/vnd.oasis.opendocument.text', store: true }, { name: 'content.xml', data: '<x/>' }], 'fmt/291'],
      ['ods', [{ name: 'mimetype', data: 'application/vnd.oasis.opendocument.spreadsheet', store: true }, { name: 'content.xml', data: '<x/>' }], 'fmt/295'],
      ['odp', [{ name: 'mimetype', data: 'application/vnd.oasis.opendocument.presentation', store: true }, { name: 'content.xml', data: '<x/>' }], 'fmt/293'],
      ['docx', [{ name: '[Content_Types].xml', data: '<Types/>' }, { name: 'word/document.xml', data: '<w/>' }], 'fmt/412'],
      ['xlsx', [{ name: '[Content_Types].xml', data: '<Types/>' }, { name: 'xl/workbook.xml', data: '<w/>' }], 'fmt/214'],
      ['pptx', [{ name: '[Content_Types].xml', data: '<Types/>' }, { name: 'ppt/presentation.xml', data: '<p/>' }], 'fmt/215'],
      ['zip', [{ name: 'a.txt', data: 'a' }], 'x-fmt/263'],
    ];
    for (const [ext, entries, expected] of cases) {
      const path = join(tmp.path, `f.${ext}`);
      await writeZip(path, entries);
      assert.equal((await identifyFile(path))?.puid, expected, ext);
    }
    const gz = join(tmp.path, 'f.gz');
    await writeFile(gz, Buffer.from([0x1f, 0x8b, 8, 0]));
    assert.equal((await identifyFile(gz))?.puid, 'x-fmt/266');
    assert.equal((await readFile(gz)).length, 4);
  } finally {
    tmp.cleanup();
  }
});

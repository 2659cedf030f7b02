import type { GenerationParameters } from '../../models/png-text.ts';

/** One gallery image as stored: the PNG (with its `parameters` tEXt) and the parameters it was made with. */
export interface GalleryItem {
  id: number;
  createdAt: number;
  parameters: GenerationParameters;
  png: Blob;
}

const DB = 'edge-diffusion';
const STORE = 'gallery';

const request = <T>(r: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

let db: Promise<IDBDatabase> | undefined;
function open(): Promise<IDBDatabase> {
  db ??= new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  return db;
}

const store = async (mode: IDBTransactionMode) => (await open()).transaction(STORE, mode).objectStore(STORE);

/** The gallery survives reloads in IndexedDB; errors (quota, private mode) reach the caller. */
export const galleryStore = {
  async add(item: Omit<GalleryItem, 'id'>): Promise<GalleryItem> {
    const id = await request((await store('readwrite')).add(item));
    return { ...item, id: id as number };
  },
  async list(): Promise<GalleryItem[]> {
    const items = await request((await store('readonly')).getAll() as IDBRequest<GalleryItem[]>);
    return items.reverse(); // newest first
  },
  async remove(id: number): Promise<void> {
    await request((await store('readwrite')).delete(id));
  },
};

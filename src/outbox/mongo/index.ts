/** MongoDB, the system of record: models, mappers, the sink, the connection and the archive reads. */
export { createMongoArchive, listRunsFromMongo } from './archive.js';
export { connectMongo, type ConnectMongoOptions, type MongoHandle } from './connection.js';
export { definitionOf, fromEventDocument, fromRunDocument, fromStepDocument, toEventDocument, toRunDocument, toStepDocument } from './mappers.js';
export { createModels, type EventDocument, type MongoModels, type RunDocument, type StepDocument } from './models.js';
export { MongoSink, eventUpserts, isPermanentMongoError, type MongoSinkOptions } from './sink.js';

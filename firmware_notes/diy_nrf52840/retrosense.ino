// RetroSense: a DIY accelerometer sensor for retro-coach (the `generic` profile's default).
//
// Board: Seeed Studio XIAO nRF52840 Sense (nRF52840 + on-board LSM6DS3TR-C IMU).
// Arduino core: "Seeed nRF52 mbed-enabled Boards" (Boards Manager URL:
//   https://files.seeedstudio.com/arduino/package_seeeduino_boards_index.json).
// Libraries: ArduinoBLE (Arduino), "Seeed Arduino LSM6DS3" (Seeed).
//
// GATT (matches coach/sources/profiles/generic.py DEFAULTS):
//   service 3f1d0001-8a4c-4b8e-9a4f-6c2d5e7b1a00
//   data    3f1d0002-...  notify, 18 bytes: seq u16 LE | t_ms u32 LE (first sample, millis())
//                         | 2 x (x, y, z) int16 LE in milli-g
//   rate    3f1d0003-...  read/write u16 LE, Hz (13, 26, 52, 104; default 52)
//   battery 180F / 2A19   read/notify, percent (rough, from the battery voltage)
// 18 bytes fit the default ATT MTU (23), so no MTU negotiation is needed.

#include <ArduinoBLE.h>
#include <LSM6DS3.h>
#include <Wire.h>

#define SVC_UUID  "3f1d0001-8a4c-4b8e-9a4f-6c2d5e7b1a00"
#define DATA_UUID "3f1d0002-8a4c-4b8e-9a4f-6c2d5e7b1a00"
#define RATE_UUID "3f1d0003-8a4c-4b8e-9a4f-6c2d5e7b1a00"

LSM6DS3 imu(I2C_MODE, 0x6A);

BLEService svc(SVC_UUID);
BLECharacteristic dataChar(DATA_UUID, BLENotify | BLERead, 18, true);
BLEUnsignedShortCharacteristic rateChar(RATE_UUID, BLERead | BLEWrite);
BLEService battSvc("180F");
BLEUnsignedCharCharacteristic battChar("2A19", BLERead | BLENotify);

static uint16_t rateHz = 52;
static uint32_t periodUs = 1000000UL / 52;
static uint32_t nextUs = 0;
static uint16_t seq = 0;
static uint8_t pkt[18];
static uint8_t nInPkt = 0;
static uint32_t lastBattMs = 0;

static void put16(uint8_t *p, uint16_t v) { p[0] = v & 0xFF; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xFF; }

static int16_t mg(float g) {
  float v = g * 1000.0f;
  if (v > 32767) v = 32767;
  if (v < -32768) v = -32768;
  return (int16_t)lroundf(v);
}

static void setRate(uint16_t hz) {
  if (hz != 13 && hz != 26 && hz != 52 && hz != 104) hz = 52;
  rateHz = hz;
  periodUs = 1000000UL / hz;
  rateChar.writeValue(hz);
  nInPkt = 0;
}

static uint8_t batteryPercent() {
#if defined(PIN_VBAT) && defined(VBAT_ENABLE)
  pinMode(VBAT_ENABLE, OUTPUT);
  digitalWrite(VBAT_ENABLE, LOW);            // connect the divider (1M / 510k)
  float v = analogRead(PIN_VBAT) * (3.3f / 1023.0f) * (1510.0f / 510.0f);
  int pct = (int)((v - 3.3f) / (4.2f - 3.3f) * 100.0f);
  return (uint8_t)constrain(pct, 0, 100);
#else
  return 100;                                 // USB powered / unknown
#endif
}

void setup() {
  Serial.begin(115200);
  if (imu.begin() != 0) {
    Serial.println("IMU not found");
  }
  if (!BLE.begin()) {
    Serial.println("BLE failed");
    while (1) delay(1000);
  }
  BLE.setLocalName("RetroSense 01");         // the generic profile matches "RetroSense"
  BLE.setDeviceName("RetroSense 01");
  BLE.setAdvertisedService(svc);
  svc.addCharacteristic(dataChar);
  svc.addCharacteristic(rateChar);
  BLE.addService(svc);
  battSvc.addCharacteristic(battChar);
  BLE.addService(battSvc);
  rateChar.writeValue(rateHz);
  battChar.writeValue(batteryPercent());
  BLE.advertise();
  nextUs = micros();
}

void loop() {
  BLE.poll();
  if (rateChar.written()) setRate(rateChar.value());

  BLEDevice central = BLE.central();
  if (!central || !central.connected() || !dataChar.subscribed()) {
    nInPkt = 0;
    nextUs = micros();
    return;
  }

  uint32_t now = micros();
  if ((int32_t)(now - nextUs) < 0) return;
  nextUs += periodUs;                          // fixed grid: no drift from loop jitter
  if ((int32_t)(now - nextUs) > (int32_t)(4 * periodUs)) nextUs = now + periodUs;

  if (nInPkt == 0) {
    put16(pkt, seq);
    put32(pkt + 2, millis());                  // time of the first sample in this packet
  }
  uint8_t *s = pkt + 6 + 6 * nInPkt;
  put16(s + 0, (uint16_t)mg(imu.readFloatAccelX()));
  put16(s + 2, (uint16_t)mg(imu.readFloatAccelY()));
  put16(s + 4, (uint16_t)mg(imu.readFloatAccelZ()));
  if (++nInPkt == 2) {
    dataChar.writeValue(pkt, sizeof(pkt));
    seq++;
    nInPkt = 0;
  }

  if (millis() - lastBattMs > 60000UL) {
    lastBattMs = millis();
    battChar.writeValue(batteryPercent());
  }
}
